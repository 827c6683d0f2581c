import { describe, expect, it } from 'vitest';
import { parseBridgeConfig } from '../config/index.js';
import { daysOffIn, isMonthDay, schoolYearAt, warnFrom } from './dates.js';

const DAY = 86_400_000;

describe('the school year under way', () => {
  it('turns over on its first day in the school’s own zone, not in UTC', () => {
    // 1 September 2026, 07:30 in Shanghai is still 31 August in UTC.
    const firstMorning = Date.parse('2026-09-01T07:30:00+08:00');
    expect(schoolYearAt(firstMorning, 'Asia/Shanghai', '09-01')).toEqual({
      first: '2026-09-01',
      last: '2027-08-31',
    });
    expect(schoolYearAt(firstMorning, 'UTC', '09-01')).toEqual({ first: '2025-09-01', last: '2026-08-31' });
    expect(schoolYearAt(firstMorning - DAY, 'Asia/Shanghai', '09-01')).toEqual({
      first: '2025-09-01',
      last: '2026-08-31',
    });
  });

  it('starts on the district’s day, and ends the day before the next (a leap day included)', () => {
    const spring = Date.parse('2028-03-01T09:00:00+08:00');
    expect(schoolYearAt(spring, 'Asia/Shanghai', '03-01')).toEqual({
      first: '2028-03-01',
      last: '2029-02-28',
    });
    expect(schoolYearAt(spring - DAY, 'Asia/Shanghai', '03-01')).toEqual({
      first: '2027-03-01',
      last: '2028-02-29',
    });
  });

  it('reads a zone the runtime does not know as UTC rather than failing', () => {
    expect(schoolYearAt(Date.parse('2031-09-01T07:30:00Z'), 'Asia/Shanghia', '09-01').first).toBe(
      '2031-09-01',
    );
  });

  it('takes as a start only a day every year has', () => {
    expect(['09-01', '02-28', '12-31'].filter(isMonthDay)).toHaveLength(3);
    expect(['02-29', '9-1', '13-01', '09-31', '2026-09-01'].filter(isMonthDay)).toEqual([]);
    const config = (ops: unknown) => parseBridgeConfig({ dataDir: '/x', adminToken: 'a'.repeat(16), ops });
    expect(config({}).ops).toMatchObject({ schoolYearStart: '09-01', expiryWarningDays: 14 });
    // Every problem at once.
    expect(() => config({ schoolYearStart: '02-29', expiryWarningDays: 0 })).toThrow(
      'ops.expiryWarningDays: Too small: expected number to be >=1; ops.schoolYearStart: MM-DD, a day every year has (09-01; not 02-29)',
    );
  });
});

describe('days off in a year', () => {
  it('counts the holidays and closures inside it, its first and last day included', () => {
    const year = { first: '2026-09-01', last: '2027-08-31' };
    const calendar = {
      holidays: ['2026-08-31', '2026-09-01', '2026-10-01', '2027-08-31', '2027-09-01'],
      closures: ['2027-01-15'],
    };
    expect(daysOffIn(calendar, year)).toEqual({ holidays: 3, closures: 1 });
    expect(daysOffIn({ holidays: ['2025-10-01'], closures: [] }, year)).toEqual({ holidays: 0, closures: 0 });
  });
});

describe('when an expiry is flagged', () => {
  const issued = Date.parse('2026-11-23T08:00:00+08:00');

  it('the warning ahead of a long validity', () => {
    const expires = issued + 365 * DAY;
    expect(warnFrom(issued, expires, 14 * DAY)).toBe(expires - 14 * DAY);
  });

  it('a day after the renewal was due, in a validity shorter than the warning (a week-long roster manifest)', () => {
    const expires = issued + 7 * DAY;
    expect(warnFrom(issued, expires, 14 * DAY)).toBe(issued + 4.5 * DAY);
    expect(warnFrom(issued, issued + 2 * DAY, 14 * DAY)).toBe(issued + 1.5 * DAY);
    expect(warnFrom(issued, expires, 2 * DAY)).toBe(expires - 2 * DAY);
  });
});
