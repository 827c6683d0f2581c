import { Sip2ChecksumError, Sip2Error, Sip2ParseError } from './errors.js';

/**
 * SIP2 messages (3M Standard Interchange Protocol 2.00) as text: a two-digit code, the message's
 * fixed-length fields, variable-length fields `<tag><value>|`, and with error detection on, a
 * sequence number `AY<0-9>` and a checksum `AZ<4 hex>` last. The frame on the wire ends with CR.
 */

/** The fixed-length fields of each message we send or read, in order, with their lengths. */
export const FIXED_FIELDS = {
  // SC → ACS
  '93': [
    ['uidAlgorithm', 1],
    ['pwdAlgorithm', 1],
  ],
  '99': [
    ['statusCode', 1],
    ['maxPrintWidth', 3],
    ['protocolVersion', 4],
  ],
  '23': [
    ['language', 3],
    ['transactionDate', 18],
  ],
  '63': [
    ['language', 3],
    ['transactionDate', 18],
    ['summary', 10],
  ],
  '11': [
    ['scRenewalPolicy', 1],
    ['noBlock', 1],
    ['transactionDate', 18],
    ['nbDueDate', 18],
  ],
  '09': [
    ['noBlock', 1],
    ['transactionDate', 18],
    ['returnDate', 18],
  ],
  '29': [
    ['thirdPartyAllowed', 1],
    ['noBlock', 1],
    ['transactionDate', 18],
    ['nbDueDate', 18],
  ],
  '17': [['transactionDate', 18]],
  '35': [['transactionDate', 18]],
  '97': [],
  // ACS → SC
  '94': [['ok', 1]],
  '98': [
    ['onlineStatus', 1],
    ['checkinOk', 1],
    ['checkoutOk', 1],
    ['acsRenewalPolicy', 1],
    ['statusUpdateOk', 1],
    ['offlineOk', 1],
    ['timeoutPeriod', 3],
    ['retriesAllowed', 3],
    ['dateTimeSync', 18],
    ['protocolVersion', 4],
  ],
  '24': [
    ['patronStatus', 14],
    ['language', 3],
    ['transactionDate', 18],
  ],
  '64': [
    ['patronStatus', 14],
    ['language', 3],
    ['transactionDate', 18],
    ['holdItemsCount', 4],
    ['overdueItemsCount', 4],
    ['chargedItemsCount', 4],
    ['fineItemsCount', 4],
    ['recallItemsCount', 4],
    ['unavailableHoldsCount', 4],
  ],
  '12': [
    ['ok', 1],
    ['renewalOk', 1],
    ['magneticMedia', 1],
    ['desensitize', 1],
    ['transactionDate', 18],
  ],
  '10': [
    ['ok', 1],
    ['resensitize', 1],
    ['magneticMedia', 1],
    ['alert', 1],
    ['transactionDate', 18],
  ],
  '30': [
    ['ok', 1],
    ['renewalOk', 1],
    ['magneticMedia', 1],
    ['desensitize', 1],
    ['transactionDate', 18],
  ],
  '18': [
    ['circulationStatus', 2],
    ['securityMarker', 2],
    ['feeType', 2],
    ['transactionDate', 18],
  ],
  '36': [
    ['endSession', 1],
    ['transactionDate', 18],
  ],
  '96': [],
} as const satisfies Record<string, readonly (readonly [string, number])[]>;

export type Sip2Code = keyof typeof FIXED_FIELDS;
export type FixedFieldName<C extends Sip2Code> = (typeof FIXED_FIELDS)[C][number][0];

/** The answer each request is due: 93 → 94, 99 → 98, 11 → 12, and so on. */
export const RESPONSE_CODE = {
  '93': '94',
  '99': '98',
  '23': '24',
  '63': '64',
  '11': '12',
  '09': '10',
  '29': '30',
  '17': '18',
  '35': '36',
} as const satisfies Partial<Record<Sip2Code, Sip2Code>>;
export type Sip2RequestCode = keyof typeof RESPONSE_CODE;

/**
 * Variable fields by tag, the ones we send or read (spec names). Other tags are kept as they come.
 */
export const FIELD = {
  patronId: 'AA',
  itemId: 'AB',
  terminalPassword: 'AC',
  patronPassword: 'AD',
  personalName: 'AE',
  screenMessage: 'AF',
  printLine: 'AG',
  dueDate: 'AH',
  titleId: 'AJ',
  libraryName: 'AM',
  terminalLocation: 'AN',
  institutionId: 'AO',
  currentLocation: 'AP',
  permanentLocation: 'AQ',
  holdItems: 'AS',
  overdueItems: 'AT',
  chargedItems: 'AU',
  fineItems: 'AV',
  homeAddress: 'BD',
  email: 'BE',
  homePhone: 'BF',
  currencyType: 'BH',
  cancel: 'BI',
  transactionId: 'BK',
  validPatron: 'BL',
  feeAcknowledged: 'BO',
  feeAmount: 'BV',
  supportedMessages: 'BX',
  holdItemsLimit: 'BZ',
  overdueItemsLimit: 'CA',
  chargedItemsLimit: 'CB',
  itemProperties: 'CH',
  mediaType: 'CK',
  sortBin: 'CL',
  loginUserId: 'CN',
  loginPassword: 'CO',
  locationCode: 'CP',
  validPatronPassword: 'CQ',
  sequence: 'AY',
  checksum: 'AZ',
} as const;

/** One SIP2 message: its code, its fixed fields by name, its variable fields in order. */
export interface Sip2Message {
  code: string;
  fixed: Record<string, string>;
  fields: [tag: string, value: string][];
  /** AY, when error detection is on. */
  sequence?: number;
}

export type Sip2Encoding = 'utf8' | 'latin1';

export interface EncodeOptions {
  /** Adds AY and AZ (the default): both sides must agree on it. */
  errorDetection?: boolean;
}

export interface DecodeOptions {
  encoding?: Sip2Encoding;
  /** Refuse a message without AZ (by default one without is accepted; a wrong one never is). */
  requireChecksum?: boolean;
}

const CR = 0x0d;
const LF = 0x0a;
const TAG = /^[A-Z][A-Z0-9]$/;

/** The AZ value: the two's complement of the 16-bit sum of the bytes up to and including "AZ". */
export function checksum(bytes: Uint8Array): string {
  let sum = 0;
  for (const byte of bytes) sum = (sum + byte) & 0xffff;
  return (-sum & 0xffff).toString(16).toUpperCase().padStart(4, '0');
}

function checkValue(tag: string, value: string): void {
  if (/[|\r\n]/.test(value)) throw new Sip2Error(`the ${tag} field cannot hold "|", CR or LF`);
}

/** The message as text, with AY and AZ when error detection is on; no terminator. */
export function encodeMessage(
  message: Sip2Message,
  options: EncodeOptions & { encoding?: Sip2Encoding } = {},
): string {
  const spec = (FIXED_FIELDS as Record<string, readonly (readonly [string, number])[]>)[message.code];
  if (!spec) throw new Sip2Error(`unknown SIP2 message code "${message.code}"`);
  let text = message.code;
  for (const [name, length] of spec) {
    const value = message.fixed[name];
    if (value === undefined || value.length !== length) {
      throw new Sip2Error(`message ${message.code}: fixed field ${name} must be ${length} characters`);
    }
    checkValue(name, value);
    text += value;
  }
  for (const [tag, value] of message.fields) {
    if (!TAG.test(tag) || tag === 'AY' || tag === 'AZ') throw new Sip2Error(`not a field tag: "${tag}"`);
    checkValue(tag, value);
    text += `${tag}${value}|`;
  }
  if (options.errorDetection === false) return text;
  // 96 and 97 carry no sequence number, only a checksum.
  if (message.code !== '96' && message.code !== '97') {
    const sequence = message.sequence ?? 0;
    if (!Number.isInteger(sequence) || sequence < 0 || sequence > 9) throw new Sip2Error('AY must be 0–9');
    text += `AY${sequence}`;
  }
  text += 'AZ';
  return text + checksum(Buffer.from(text, options.encoding ?? 'utf8'));
}

/** The frame as sent: the encoded message and CR. */
export function encodeFrame(message: Sip2Message, options: EncodeOptions & { encoding?: Sip2Encoding } = {}) {
  return Buffer.from(`${encodeMessage(message, options)}\r`, options.encoding ?? 'utf8');
}

/** Reads one message (with or without its CR, CRLF or a leading LF); throws only Sip2Error. */
export function decodeMessage(input: string | Uint8Array, options: DecodeOptions = {}): Sip2Message {
  const encoding = options.encoding ?? 'utf8';
  let bytes = typeof input === 'string' ? Buffer.from(input, encoding) : Buffer.from(input);
  let start = 0;
  let end = bytes.length;
  while (start < end && bytes[start] === LF) start++;
  while (end > start && (bytes[end - 1] === CR || bytes[end - 1] === LF)) end--;
  bytes = bytes.subarray(start, end);
  if (bytes.includes(CR)) throw new Sip2ParseError('a CR inside a message');

  // AZ is the last field: its checksum covers every byte before the four hex digits.
  let body = bytes;
  const tail = bytes.length >= 6 ? bytes.subarray(bytes.length - 6).toString('latin1') : '';
  const az = /^AZ([0-9A-Fa-f]{4})$/.exec(tail);
  if (az) {
    const expected = checksum(bytes.subarray(0, bytes.length - 4));
    if (expected !== az[1]?.toUpperCase()) {
      throw new Sip2ChecksumError(`checksum ${az[1]} does not match the message (${expected})`);
    }
    body = bytes.subarray(0, bytes.length - 6);
  } else if (options.requireChecksum) {
    throw new Sip2ChecksumError('the message has no checksum');
  }

  const text = body.toString(encoding);
  const code = text.slice(0, 2);
  const spec = (FIXED_FIELDS as Record<string, readonly (readonly [string, number])[]>)[code];
  if (!/^\d\d$/.test(code) || !spec) throw new Sip2ParseError(`unknown message code "${code}"`);
  let at = 2;
  const fixed: Record<string, string> = {};
  for (const [name, length] of spec) {
    if (at + length > text.length)
      throw new Sip2ParseError(`message ${code} ends inside fixed field ${name}`);
    fixed[name] = text.slice(at, at + length);
    at += length;
  }
  let rest = text.slice(at);
  // AY comes last before AZ, after the last field's "|" (some systems add one after it too).
  let sequence: number | undefined;
  const ay = /(?:^|(?<=\|))AY(\d)\|?$/.exec(rest);
  if (ay) {
    sequence = Number(ay[1]);
    rest = rest.slice(0, ay.index);
  }
  const fields: [string, string][] = [];
  if (rest.length > 0) {
    const parts = rest.split('|');
    // A last field without its "|" is tolerated; an empty last part is the final separator.
    if (parts[parts.length - 1] === '') parts.pop();
    for (const part of parts) {
      if (part === '') continue;
      const tag = part.slice(0, 2);
      if (part.length < 2 || !TAG.test(tag))
        throw new Sip2ParseError(`message ${code}: not a field "${part}"`);
      if (tag === 'AY' || tag === 'AZ') continue;
      fields.push([tag, part.slice(2)]);
    }
  }
  return sequence === undefined ? { code, fixed, fields } : { code, fixed, fields, sequence };
}

/** The first value of a variable field, if the message has it. */
export function fieldOf(message: Sip2Message, tag: string): string | undefined {
  return message.fields.find(([t]) => t === tag)?.[1];
}

/** Every value of a repeatable variable field (AF screen messages, AU charged items…). */
export function fieldsOf(message: Sip2Message, tag: string): string[] {
  return message.fields.filter(([t]) => t === tag).map(([, value]) => value);
}

/**
 * Splits a byte stream into frames at CR. `push` returns the complete frames; the rest waits for
 * more bytes. A frame longer than `maxBytes` is garbage: it throws.
 */
export class FrameReader {
  private buffer = Buffer.alloc(0);
  constructor(private readonly maxBytes = 64 * 1024) {}

  push(chunk: Uint8Array): Buffer[] {
    this.buffer = this.buffer.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buffer, chunk]);
    const frames: Buffer[] = [];
    for (;;) {
      const end = this.buffer.indexOf(CR);
      if (end < 0) break;
      const frame = this.buffer.subarray(0, end);
      this.buffer = this.buffer.subarray(end + 1);
      // CRLF terminators and stray LFs between frames.
      let start = 0;
      while (start < frame.length && frame[start] === LF) start++;
      if (start < frame.length) frames.push(frame.subarray(start));
    }
    while (this.buffer.length > 0 && this.buffer[0] === LF) this.buffer = this.buffer.subarray(1);
    if (this.buffer.length > this.maxBytes) {
      this.buffer = Buffer.alloc(0);
      throw new Sip2ParseError(`a frame longer than ${this.maxBytes} bytes without CR`);
    }
    return frames;
  }

  clear(): void {
    this.buffer = Buffer.alloc(0);
  }
}
