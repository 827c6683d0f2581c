import { FIELD, type Sip2Message } from './codec.js';
import type { Sip2Config } from './config.js';

// The station's requests as SIP2 messages: pure functions of the configuration and the request, so
// each can be checked against the specification without a socket. Fields are in the order the
// standard lists them.

/** What every request is built from: the station's configuration and its SIP2 date format. */
export interface MessageContext {
  config: Sip2Config;
  /** A date as SIP2 sends it (YYYYMMDDZZZZHHMMSS in the system's wall clock); now when none is given. */
  date: (at?: Date | number) => string;
}

/** An offline transaction carried out at the station while the system was unreachable. */
interface OfflineFields {
  /** Tells the system the station already did it while it was off line: it must not refuse. */
  noBlock?: boolean;
  /** When it happened; now by default. */
  at?: Date;
}

export interface CheckoutRequest extends OfflineFields {
  patronId: string;
  itemId: string;
  patronPassword?: string;
  /** The due date the station gave, for a `noBlock` checkout. */
  nbDueDate?: Date;
  feeAcknowledged?: boolean;
}

export interface CheckinRequest extends OfflineFields {
  itemId: string;
}

export interface RenewRequest extends OfflineFields {
  patronId: string;
  itemId: string;
  patronPassword?: string;
  nbDueDate?: Date;
}

export interface PatronOptions {
  patronPassword?: string;
  /** Patron information (63) only: the patron's charged or overdue items too. */
  list?: 'charged' | 'overdue';
}

const terminalPassword = ({ config }: MessageContext): [string, string] => [
  FIELD.terminalPassword,
  config.terminalPassword ?? '',
];
/** AC is optional in 63 and 17 (required elsewhere in the standard): sent only when configured. */
const terminalPasswordIfSet = ({ config }: MessageContext): [string, string][] =>
  config.terminalPassword === undefined ? [] : [[FIELD.terminalPassword, config.terminalPassword]];

/** Login (93). */
export function loginMessage(config: Sip2Config): Sip2Message {
  return {
    code: '93',
    fixed: { uidAlgorithm: '0', pwdAlgorithm: '0' },
    fields: [
      [FIELD.loginUserId, config.user],
      [FIELD.loginPassword, config.password],
      ...(config.location !== undefined ? [[FIELD.locationCode, config.location] as [string, string]] : []),
    ],
  };
}

/** SC status (99). */
export function statusMessage(): Sip2Message {
  return {
    code: '99',
    fixed: { statusCode: '0', maxPrintWidth: '080', protocolVersion: '2.00' },
    fields: [],
  };
}

/** Patron status (23). */
export function patronStatusMessage(
  context: MessageContext,
  patronId: string,
  options: PatronOptions = {},
): Sip2Message {
  return {
    code: '23',
    fixed: { language: '000', transactionDate: context.date() },
    fields: [
      [FIELD.institutionId, context.config.institution],
      [FIELD.patronId, patronId],
      terminalPassword(context),
      [FIELD.patronPassword, options.patronPassword ?? ''],
    ],
  };
}

/** Patron information (63), asking for the list of charged or overdue items when `list` says so. */
export function patronInformationMessage(
  context: MessageContext,
  patronId: string,
  options: PatronOptions = {},
): Sip2Message {
  const summary = [' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '];
  if (options.list === 'overdue') summary[1] = 'Y';
  if (options.list === 'charged') summary[2] = 'Y';
  const fields: [string, string][] = [
    [FIELD.institutionId, context.config.institution],
    [FIELD.patronId, patronId],
    ...terminalPasswordIfSet(context),
  ];
  if (options.patronPassword !== undefined) fields.push([FIELD.patronPassword, options.patronPassword]);
  if (options.list) fields.push(['BP', '1'], ['BQ', '9999']);
  return {
    code: '63',
    fixed: { language: '000', transactionDate: context.date(), summary: summary.join('') },
    fields,
  };
}

/**
 * Checkout and renew differ only in their policy flag and their fields' order: both may be no-block
 * with a due date.
 */
function chargeMessage(
  context: MessageContext,
  code: '11' | '29',
  policy: Record<string, string>,
  request: RenewRequest,
  fields: [string, string][],
): Sip2Message {
  return {
    code,
    fixed: {
      ...policy,
      noBlock: request.noBlock ? 'Y' : 'N',
      transactionDate: context.date(request.at),
      nbDueDate: request.nbDueDate ? context.date(request.nbDueDate) : ' '.repeat(18),
    },
    fields,
  };
}

/** Checkout (11). With `noBlock`, an offline checkout the system must accept, due `nbDueDate`. */
export function checkoutMessage(context: MessageContext, request: CheckoutRequest): Sip2Message {
  const fields: [string, string][] = [
    [FIELD.institutionId, context.config.institution],
    [FIELD.patronId, request.patronId],
    [FIELD.itemId, request.itemId],
    terminalPassword(context),
  ];
  if (request.patronPassword !== undefined) fields.push([FIELD.patronPassword, request.patronPassword]);
  if (request.feeAcknowledged !== undefined)
    fields.push([FIELD.feeAcknowledged, request.feeAcknowledged ? 'Y' : 'N']);
  return chargeMessage(context, '11', { scRenewalPolicy: 'N' }, request, fields);
}

/** Renew (29). */
export function renewMessage(context: MessageContext, request: RenewRequest): Sip2Message {
  const fields: [string, string][] = [
    [FIELD.institutionId, context.config.institution],
    [FIELD.patronId, request.patronId],
  ];
  if (request.patronPassword !== undefined) fields.push([FIELD.patronPassword, request.patronPassword]);
  fields.push([FIELD.itemId, request.itemId], terminalPassword(context));
  return chargeMessage(context, '29', { thirdPartyAllowed: 'N' }, request, fields);
}

/** Checkin (09). With `noBlock` and `at`, a return the station took while off line. */
export function checkinMessage(context: MessageContext, request: CheckinRequest): Sip2Message {
  const at = context.date(request.at);
  return {
    code: '09',
    fixed: { noBlock: request.noBlock ? 'Y' : 'N', transactionDate: at, returnDate: at },
    fields: [
      [FIELD.currentLocation, context.config.location ?? ''],
      [FIELD.institutionId, context.config.institution],
      [FIELD.itemId, request.itemId],
      terminalPassword(context),
    ],
  };
}

/** Item information (17). */
export function itemInformationMessage(context: MessageContext, itemId: string): Sip2Message {
  return {
    code: '17',
    fixed: { transactionDate: context.date() },
    fields: [
      [FIELD.institutionId, context.config.institution],
      [FIELD.itemId, itemId],
      ...terminalPasswordIfSet(context),
    ],
  };
}
