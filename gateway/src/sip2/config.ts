import { z } from 'zod';

const noSeparator = (what: string) =>
  z
    .string()
    .regex(/^[^|\r\n]*$/, `${what} cannot hold "|", CR or LF (SIP2 separators)`)
    .max(255);

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The school's library system over SIP2 (the `sip2` section of a library station). Without it the
 * station keeps its own ledger only.
 */
export const Sip2Config = z.object({
  host: z.string().min(1),
  /** 6001 is the usual SIP2 port (Koha, Evergreen); FOLIO's edge-sip2 listens on 6443. */
  port: z.number().int().min(1).max(65_535).default(6001),
  /** SIP2 over TLS. Without it the connection is plain TCP: keep it on the school's own network. */
  tls: z
    .object({
      /** A PEM file of the CA that signed the library system's certificate (else the system's CAs). */
      ca: z.string().min(1).optional(),
      /** A client certificate and its key (PEM files), for systems that ask for one. */
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      /** The name in the server's certificate, when it is not `host`. */
      servername: z.string().min(1).optional(),
      rejectUnauthorized: z.boolean().default(true),
    })
    .optional(),
  /** The SIP2 login (93: CN, CO) the library system gave this station. */
  user: noSeparator('user').min(1),
  password: noSeparator('password').min(1),
  /** AO, the institution id, sent with every request. */
  institution: noSeparator('institution'),
  /** CP at login and AP on check-ins: the station's location code in the library system. */
  location: noSeparator('location').optional(),
  /** AC, where the library system wants a terminal password. */
  terminalPassword: noSeparator('terminalPassword').optional(),
  /** How long one request may wait for its answer (and a connection for its handshake). */
  timeoutMs: z.number().int().min(50).max(120_000).default(5_000),
  /**
   * While the system cannot be reached the station decides on its own and asks the system this often
   * whether it is back (a status request, 99); when it is, what the desk did meanwhile is replayed.
   */
  probeIntervalMs: z.number().int().min(50).max(3_600_000).default(30_000),
  /** How often a request is sent again after a bad checksum, a lost connection or (reads only) a timeout. */
  retries: z.number().int().min(0).max(10).default(2),
  /** AY and AZ on every message: both sides must agree. */
  errorDetection: z.boolean().default(true),
  /** How text is encoded on the wire: Koha and Evergreen use UTF-8 by default, older systems Latin-1. */
  encoding: z.enum(['utf8', 'latin1']).default('utf8'),
  /**
   * The library system's clock for dates without a zone (IANA name); dates we send are in its wall
   * clock too. Unset: the gateway's own time zone.
   */
  timeZone: z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Amsterdam').optional(),
  /**
   * What the library system knows a patron by (AA): the roster's person id (usually the student
   * number both systems share) or the number of the card they tapped.
   */
  patronIdentifier: z.enum(['personId', 'cardId']).default('personId'),
  /** Patron look-ups with 63 (patron information, the default where the system supports it) or 23. */
  patronRequest: z.enum(['auto', 'information', 'status']).default('auto'),
});
export type Sip2Config = z.infer<typeof Sip2Config>;
export type Sip2ConfigInput = z.input<typeof Sip2Config>;
