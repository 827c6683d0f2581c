import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksum,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FIXED_FIELDS,
  FrameReader,
  fieldOf,
  fieldsOf,
  type Sip2Message,
} from './codec.js';
import { formatSipDate, parseDueDate, parseSipDate } from './dates.js';
import { Sip2ChecksumError, Sip2Error, Sip2ParseError } from './errors.js';

// Frames as library systems and other SIP2 clients sent them (3M examples, Evergreen, Koha tests).
const REAL_FRAMES = [
  '9900802.00AY1AZFCA0',
  '990   2.00AY1AZFCD8',
  '941AY1AZFDFC',
  '9300CNuu|COpp|AY1AZF9E9',
  '98YYYYYN60000320130424    1135112.00AOEPLMNA|AMEPLMNA|BXYYYYYYYYYYYNNYYY|ANSIPCHK|AY1AZE80C',
  '96AZFEF6',
];

const FIXED = FIXED_FIELDS as Record<string, readonly (readonly [string, number])[]>;
const CODES = Object.keys(FIXED);
const fieldText = fc.string({ unit: fc.constantFrom(...'abcXYZ019 -_.:/éßø€'.split('')), maxLength: 20 });
const tag = fc
  .tuple(
    fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'.split('')),
    fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWX0123456789'.split('')),
  )
  .map(([a, b]) => a + b)
  .filter((t) => t !== 'AY' && t !== 'AZ');

const message: fc.Arbitrary<Sip2Message> = fc.constantFrom(...CODES).chain((code) =>
  fc.record({
    code: fc.constant(code),
    fixed: fc
      .tuple(
        ...(FIXED[code] ?? []).map(([name, length]) =>
          fc
            .string({
              unit: fc.constantFrom(...'YN 0123456789'.split('')),
              minLength: length,
              maxLength: length,
            })
            .map((value) => [name, value] as const),
        ),
      )
      .map((entries) => Object.fromEntries(entries) as Record<string, string>),
    fields:
      code === '96' || code === '97' ? fc.constant([]) : fc.array(fc.tuple(tag, fieldText), { maxLength: 6 }),
    sequence: fc.integer({ min: 0, max: 9 }),
  }),
);

describe('SIP2 codec', () => {
  it('checks the checksums of frames other systems sent', () => {
    for (const frame of REAL_FRAMES) expect(() => decodeMessage(frame)).not.toThrow();
    const status = decodeMessage(REAL_FRAMES[4] as string);
    expect(status.code).toBe('98');
    expect(status.fixed.dateTimeSync).toBe('20130424    113511');
    expect(fieldOf(status, 'BX')).toBe('YYYYYYYYYYYNNYYY');
    expect(status.sequence).toBe(1);
    expect(checksum(Buffer.from('97AZ'))).toBe('FEF5');
  });

  it('builds what other systems build', () => {
    const login: Sip2Message = {
      code: '93',
      fixed: { uidAlgorithm: '0', pwdAlgorithm: '0' },
      fields: [
        ['CN', 'uu'],
        ['CO', 'pp'],
      ],
      sequence: 1,
    };
    expect(encodeMessage(login)).toBe('9300CNuu|COpp|AY1AZF9E9');
    expect(encodeMessage(login, { errorDetection: false })).toBe('9300CNuu|COpp|');
    expect(encodeMessage({ code: '97', fixed: {}, fields: [] })).toBe('97AZFEF5');
    expect(encodeFrame(login).toString()).toBe('9300CNuu|COpp|AY1AZF9E9\r');
  });

  it('reads back every message it builds (property)', () => {
    fc.assert(
      fc.property(
        message,
        fc.boolean(),
        fc.constantFrom('utf8' as const, 'latin1' as const),
        (m, detect, encoding) => {
          const fields =
            encoding === 'latin1'
              ? m.fields.map(([t, v]) => [t, v.replace(/€/g, 'E')] as [string, string])
              : m.fields;
          const original = { ...m, fields };
          const frame = encodeFrame(original, { errorDetection: detect, encoding });
          const back = decodeMessage(frame, { encoding, requireChecksum: detect });
          expect(back.code).toBe(m.code);
          expect(back.fixed).toEqual(m.fixed);
          expect(back.fields).toEqual(fields);
          if (detect && m.code !== '96' && m.code !== '97') expect(back.sequence).toBe(m.sequence);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('detects any one corrupted byte of a frame with a checksum (property)', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, delta) => {
        const frame = Buffer.from(encodeMessage(m), 'utf8');
        const index = at % frame.length;
        const corrupted = Buffer.from(frame);
        corrupted[index] = ((corrupted[index] as number) + delta) & 0xff;
        // Either the checksum no longer matches, or the change broke the frame's shape: never a
        // message taken as good.
        let read: Sip2Message | undefined;
        try {
          read = decodeMessage(corrupted, { requireChecksum: true });
        } catch (error) {
          expect(error).toBeInstanceOf(Sip2Error);
        }
        // A changed hex digit's case ('f' for 'F') is the one change that reads as the same message.
        if (read)
          expect(corrupted.toString('latin1').toUpperCase()).toBe(frame.toString('latin1').toUpperCase());
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses a wrong checksum with Sip2ChecksumError', () => {
    expect(() => decodeMessage('941AY1AZFDFD')).toThrow(Sip2ChecksumError);
    expect(() => decodeMessage('942AY1AZFDFC')).toThrow(Sip2ChecksumError);
    expect(() => decodeMessage('941AY1', { requireChecksum: true })).toThrow(Sip2ChecksumError);
    expect(decodeMessage('941AY1').sequence).toBe(1);
  });

  it('throws nothing but Sip2Error on garbage (property)', () => {
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.string({ maxLength: 200 }),
      // Plausible starts: a known code and random rest, with or without a checksum of its own.
      fc
        .tuple(fc.constantFrom(...CODES), fc.string({ maxLength: 80 }), fc.boolean())
        .map(([code, rest, sum]) => {
          const text = `${code}${rest}`;
          return sum ? `${text}AZ${checksum(Buffer.from(`${text}AZ`))}` : text;
        }),
    );
    fc.assert(
      fc.property(garbage, (input) => {
        try {
          const read = decodeMessage(input);
          expect(typeof read.code).toBe('string');
        } catch (error) {
          expect(error).toBeInstanceOf(Sip2Error);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads fields in any order, repeated, with or without the last "|" and with CRLF', () => {
    const counts = ['0000', '0000', '0002', '0000', '0000', '0000'].join('');
    const text = `64${' '.repeat(14)}00020240101    120000${counts}AOSCHOOL|AAp1|AEAda|AUb1|AUb2 Some title|AFOne|AFTwo`;
    const read = decodeMessage(`${text}|AY3AZ${checksum(Buffer.from(`${text}|AY3AZ`))}\r\n`);
    expect(fieldsOf(read, 'AU')).toEqual(['b1', 'b2 Some title']);
    expect(fieldsOf(read, 'AF')).toEqual(['One', 'Two']);
    expect(read.fixed.chargedItemsCount).toBe('0002');
    expect(read.sequence).toBe(3);
    expect(fieldsOf(decodeMessage(text), 'AF')).toEqual(['One', 'Two']);
    // "|AY" after the last field's separator and "AY…|" both seen in the wild.
    const odd = '941|AY4|AZ';
    expect(decodeMessage(`${odd}${checksum(Buffer.from(odd))}`).sequence).toBe(4);
  });

  it('refuses short fixed fields, unknown codes and fields that cannot be sent', () => {
    expect(() => decodeMessage('12')).toThrow(Sip2ParseError);
    expect(() => decodeMessage('55xyz')).toThrow(Sip2ParseError);
    expect(() => decodeMessage('941A|')).toThrow(Sip2ParseError);
    const base = { code: '17', fixed: { transactionDate: formatSipDate(0) } };
    expect(() => encodeMessage({ ...base, fields: [['AB', 'a|b']] })).toThrow(Sip2Error);
    expect(() => encodeMessage({ ...base, fields: [['AB', 'a\rb']] })).toThrow(Sip2Error);
    expect(() => encodeMessage({ ...base, fields: [['AY', '1']] })).toThrow(Sip2Error);
    expect(() => encodeMessage({ code: '17', fixed: { transactionDate: 'short' }, fields: [] })).toThrow(
      Sip2Error,
    );
    expect(() => encodeMessage({ code: '00', fixed: {}, fields: [] })).toThrow(Sip2Error);
  });

  it('splits a byte stream into frames at CR, across chunks, skipping LFs', () => {
    const reader = new FrameReader(64);
    expect(reader.push(Buffer.from('941AY'))).toEqual([]);
    expect(reader.push(Buffer.from('1AZFDFC\r\n96AZFEF6\r9')).map(String)).toEqual([
      '941AY1AZFDFC',
      '96AZFEF6',
    ]);
    expect(reader.push(Buffer.from('41\r')).map(String)).toEqual(['941']);
    expect(() => reader.push(Buffer.alloc(100, 0x41))).toThrow(Sip2ParseError);
    expect(reader.push(Buffer.from('941\r')).map(String)).toEqual(['941']);
  });
});

describe('SIP2 dates', () => {
  const at = Date.UTC(2024, 2, 31, 0, 30, 5);

  it('writes UTC with the zone "   Z" and a zone\'s wall clock with a blank zone', () => {
    expect(formatSipDate(at)).toBe('20240331   Z003005');
    expect(formatSipDate(at, 'Europe/Amsterdam')).toBe('20240331    013005');
    // After the clocks went forward that night.
    expect(formatSipDate(at + 3 * 3_600_000, 'Europe/Amsterdam')).toBe('20240331    053005');
  });

  it('reads back what it writes, in any zone (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 0, 1) }),
        fc.constantFrom('UTC', 'Europe/Amsterdam', 'America/New_York', 'Asia/Kolkata', 'Pacific/Auckland'),
        (ms, zone) => {
          const second = Math.floor(ms / 1000) * 1000;
          const back = parseSipDate(formatSipDate(second, zone), zone)?.getTime();
          // A wall-clock time in the hour the clocks go back is ambiguous: either reading is right.
          expect(back === second || Math.abs((back ?? 0) - second) === 3_600_000).toBe(true);
          if (zone === 'UTC') expect(back).toBe(second);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads blank zones on the configured clock, Z as UTC, and refuses what is not a date', () => {
    expect(parseSipDate('20240101    120000', 'UTC')?.toISOString()).toBe('2024-01-01T12:00:00.000Z');
    expect(parseSipDate('20240101    120000', 'Europe/Amsterdam')?.toISOString()).toBe(
      '2024-01-01T11:00:00.000Z',
    );
    expect(parseSipDate('20240101   Z120000', 'Europe/Amsterdam')?.toISOString()).toBe(
      '2024-01-01T12:00:00.000Z',
    );
    expect(parseSipDate('20240230    120000')).toBeUndefined();
    expect(parseSipDate('2024010     120000')).toBeUndefined();
    expect(parseSipDate('')).toBeUndefined();
  });

  it('reads due dates as systems send them', () => {
    expect(parseDueDate('20240115    235900', 'UTC')?.toISOString()).toBe('2024-01-15T23:59:00.000Z');
    expect(parseDueDate('2024-01-15 23:59', 'UTC')?.toISOString()).toBe('2024-01-15T23:59:00.000Z');
    expect(parseDueDate('2024-01-15', 'UTC')?.toISOString()).toBe('2024-01-15T23:59:59.000Z');
    expect(parseDueDate('2024-01-15T10:00:00+01:00')?.toISOString()).toBe('2024-01-15T09:00:00.000Z');
    expect(parseDueDate('next Tuesday')).toBeUndefined();
  });
});
