/** Anything that goes wrong in SIP2: every error this module throws is one of these. */
export class Sip2Error extends Error {
  override readonly name: string = 'Sip2Error';
}

/** A frame that is not a SIP2 message we can read: unknown code, short fixed fields, bad characters. */
export class Sip2ParseError extends Sip2Error {
  override readonly name: string = 'Sip2ParseError';
}

/** A frame whose AZ checksum does not match its bytes: sent again (97/96), never acted upon. */
export class Sip2ChecksumError extends Sip2ParseError {
  override readonly name: string = 'Sip2ChecksumError';
}

export type Sip2UnavailableReason = 'connect' | 'timeout' | 'closed' | 'protocol' | 'offline';

/**
 * The library system cannot be reached or does not answer usefully: connection refused, TLS failure,
 * no answer in time (a stall), the connection dropped, or garbage after every retry. The library
 * station falls back to its own ledger.
 *
 * `sent` tells whether the request may have reached the library system (it was written before the
 * failure): a circulation request that was sent may have been carried out even though no answer came.
 */
export class Sip2Unavailable extends Sip2Error {
  override readonly name: string = 'Sip2Unavailable';
  constructor(
    message: string,
    readonly reason: Sip2UnavailableReason,
    readonly sent = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The library system answered our login (93) with ok=0: wrong SIP user or password, or location. */
export class Sip2LoginRefused extends Sip2Error {
  override readonly name: string = 'Sip2LoginRefused';
}
