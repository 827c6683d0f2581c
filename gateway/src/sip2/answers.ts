import { FIELD, fieldOf, fieldsOf, type Sip2Message } from './codec.js';
import { parseDueDate, parseSipDate } from './dates.js';

// The library system's answers read into plain data: pure functions of a decoded message, so each can
// be tested from a frame without a socket.

/** What the library system said besides its answer: screen messages (AF) and print lines (AG). */
export interface Sip2Answer {
  screenMessages: string[];
  printLines: string[];
  /** The whole answer, for fields we do not map. */
  raw: Sip2Message;
}

const SUPPORTED = [
  'patronStatus',
  'checkout',
  'checkin',
  'blockPatron',
  'status',
  'resend',
  'login',
  'patronInformation',
  'endPatronSession',
  'feePaid',
  'itemInformation',
  'itemStatusUpdate',
  'patronEnable',
  'hold',
  'renew',
  'renewAll',
] as const;
export type Sip2Operation = (typeof SUPPORTED)[number];

/** The library system's answer to SC status (98). */
export interface AcsStatus extends Sip2Answer {
  online: boolean;
  checkinOk: boolean;
  checkoutOk: boolean;
  /** Whether the system lets the station renew on its own (the SC renewal policy). */
  renewalPolicy: boolean;
  statusUpdateOk: boolean;
  offlineOk: boolean;
  /** Tenths of a second the system waits for the station, or undefined. */
  timeoutPeriod?: number;
  retriesAllowed?: number;
  dateTimeSync?: Date;
  protocolVersion: string;
  institutionId?: string;
  libraryName?: string;
  /** The messages the system supports (BX); all true when it does not say. */
  supports: Record<Sip2Operation, boolean>;
}

const PATRON_FLAGS = [
  'chargePrivilegesDenied',
  'renewalPrivilegesDenied',
  'recallPrivilegesDenied',
  'holdPrivilegesDenied',
  'cardReportedLost',
  'tooManyItemsCharged',
  'tooManyItemsOverdue',
  'tooManyRenewals',
  'tooManyClaimsOfItemsReturned',
  'tooManyItemsLost',
  'excessiveOutstandingFines',
  'excessiveOutstandingFees',
  'recallOverdue',
  'tooManyItemsBilled',
] as const;
export type PatronFlag = (typeof PATRON_FLAGS)[number];

/** A patron as 24 (patron status) or 64 (patron information) tells it. */
export interface PatronInformation extends Sip2Answer {
  patronId: string;
  /** BL: whether the system knows the patron; undefined when it does not say. */
  valid?: boolean;
  /** CQ, when a patron password was sent. */
  validPassword?: boolean;
  name?: string;
  /** The 14 patron status flags that are set. */
  flags: PatronFlag[];
  /** Whether the system would refuse this patron a checkout (charge privileges denied, card lost). */
  blocked: boolean;
  chargedCount?: number;
  overdueCount?: number;
  holdCount?: number;
  fineCount?: number;
  chargedLimit?: number;
  /** AU (charged) and AT (overdue) item ids, when asked for with `list`. */
  chargedItems: string[];
  overdueItems: string[];
  feeAmount?: string;
  currency?: string;
  email?: string;
  phone?: string;
}

export interface CirculationResult extends Sip2Answer {
  ok: boolean;
  itemId: string;
  patronId?: string;
  title?: string;
  /** The due date, where the system sent one we can read; `dueDateText` as sent. */
  dueDate?: Date;
  dueDateText?: string;
  transactionId?: string;
}

export interface CheckoutResult extends CirculationResult {
  renewalOk: boolean;
}
export type RenewResult = CheckoutResult;

export interface CheckinResult extends CirculationResult {
  alert: boolean;
  permanentLocation?: string;
  sortBin?: string;
}

export interface ItemInformation extends Sip2Answer {
  itemId: string;
  /** 01 other … 03 available, 04 charged, … 13 lost (the spec's circulation status). */
  circulationStatus: string;
  title?: string;
  dueDate?: Date;
  dueDateText?: string;
}

const yes = (flag: string | undefined) => flag === 'Y' || flag === '1';
const count = (text: string | undefined) => {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  return Number(text);
};
const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/** The screen messages and print lines every answer may carry. */
export function readAnswer(reply: Sip2Message): Sip2Answer {
  return {
    screenMessages: fieldsOf(reply, FIELD.screenMessage).filter((text) => text.trim() !== ''),
    printLines: fieldsOf(reply, FIELD.printLine).filter((text) => text.trim() !== ''),
    raw: reply,
  };
}

/** ACS status (98); dates without a zone are read in the system's `timeZone`. */
export function readStatus(reply: Sip2Message, timeZone: string): AcsStatus {
  const f = reply.fixed;
  const bx = fieldOf(reply, FIELD.supportedMessages);
  const supports = Object.fromEntries(
    SUPPORTED.map((name, index) => [name, bx === undefined || bx.length <= index || yes(bx[index])]),
  ) as Record<Sip2Operation, boolean>;
  const dateTimeSync = parseSipDate(f.dateTimeSync ?? '', timeZone);
  return {
    ...readAnswer(reply),
    online: yes(f.onlineStatus),
    checkinOk: yes(f.checkinOk),
    checkoutOk: yes(f.checkoutOk),
    renewalPolicy: yes(f.acsRenewalPolicy),
    statusUpdateOk: yes(f.statusUpdateOk),
    offlineOk: yes(f.offlineOk),
    ...optional('timeoutPeriod', count(f.timeoutPeriod)),
    ...optional('retriesAllowed', count(f.retriesAllowed)),
    ...optional('dateTimeSync', dateTimeSync),
    protocolVersion: f.protocolVersion ?? '',
    ...optional('institutionId', fieldOf(reply, FIELD.institutionId)),
    ...optional('libraryName', fieldOf(reply, FIELD.libraryName)),
    supports,
  };
}

/** Patron status (24) or patron information (64) about `patronId`. */
export function readPatron(reply: Sip2Message, patronId: string): PatronInformation {
  const f = reply.fixed;
  const status = f.patronStatus ?? '';
  const flags = PATRON_FLAGS.filter((_, index) => yes(status[index]));
  const bl = fieldOf(reply, FIELD.validPatron);
  const cq = fieldOf(reply, FIELD.validPatronPassword);
  return {
    ...readAnswer(reply),
    patronId: fieldOf(reply, FIELD.patronId) ?? patronId,
    ...optional('valid', bl === undefined ? undefined : yes(bl)),
    ...optional('validPassword', cq === undefined ? undefined : yes(cq)),
    ...optional('name', fieldOf(reply, FIELD.personalName) || undefined),
    flags,
    blocked: flags.includes('chargePrivilegesDenied') || flags.includes('cardReportedLost'),
    ...optional('chargedCount', count(f.chargedItemsCount)),
    ...optional('overdueCount', count(f.overdueItemsCount)),
    ...optional('holdCount', count(f.holdItemsCount)),
    ...optional('fineCount', count(f.fineItemsCount)),
    ...optional('chargedLimit', count(fieldOf(reply, FIELD.chargedItemsLimit))),
    chargedItems: fieldsOf(reply, FIELD.chargedItems),
    overdueItems: fieldsOf(reply, FIELD.overdueItems),
    ...optional('feeAmount', fieldOf(reply, FIELD.feeAmount) || undefined),
    ...optional('currency', fieldOf(reply, FIELD.currencyType) || undefined),
    ...optional('email', fieldOf(reply, FIELD.email) || undefined),
    ...optional('phone', fieldOf(reply, FIELD.homePhone) || undefined),
  };
}

const dueDateOf = (reply: Sip2Message, timeZone: string) => {
  const dueDateText = fieldOf(reply, FIELD.dueDate);
  const dueDate = dueDateText ? parseDueDate(dueDateText, timeZone) : undefined;
  return { ...optional('dueDate', dueDate), ...optional('dueDateText', dueDateText || undefined) };
};

/** What checkout (12), checkin (10) and renew (30) answers share. */
export function readCirculation(reply: Sip2Message, itemId: string, timeZone: string): CirculationResult {
  return {
    ...readAnswer(reply),
    ok: reply.fixed.ok === '1',
    itemId: fieldOf(reply, FIELD.itemId) || itemId,
    ...optional('patronId', fieldOf(reply, FIELD.patronId) || undefined),
    ...optional('title', fieldOf(reply, FIELD.titleId) || undefined),
    ...dueDateOf(reply, timeZone),
    ...optional('transactionId', fieldOf(reply, FIELD.transactionId) || undefined),
  };
}

/** Checkout (12) or renew (30) response. */
export function readCharge(reply: Sip2Message, itemId: string, timeZone: string): CheckoutResult {
  return { ...readCirculation(reply, itemId, timeZone), renewalOk: yes(reply.fixed.renewalOk) };
}

/** Checkin response (10). */
export function readCheckin(reply: Sip2Message, itemId: string, timeZone: string): CheckinResult {
  return {
    ...readCirculation(reply, itemId, timeZone),
    alert: yes(reply.fixed.alert),
    ...optional('permanentLocation', fieldOf(reply, FIELD.permanentLocation)),
    ...optional('sortBin', fieldOf(reply, FIELD.sortBin)),
  };
}

/** Item information response (18). */
export function readItemInformation(reply: Sip2Message, itemId: string, timeZone: string): ItemInformation {
  return {
    ...readAnswer(reply),
    itemId: fieldOf(reply, FIELD.itemId) ?? itemId,
    circulationStatus: reply.fixed.circulationStatus ?? '',
    ...optional('title', fieldOf(reply, FIELD.titleId)),
    ...dueDateOf(reply, timeZone),
  };
}
