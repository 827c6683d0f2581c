import { type Calendar, localDate } from '@educard/terminal-sdk';
import { addDays, isCalendarDate, isTimeZone } from '../attendance/index.js';

/** Pure date rules of the expiry checks (docs/operations.md, "Dates"). */

const DAY_MS = 86_400_000;

/** Whether `value` is `MM-DD` of a day every year has, so a school year can start on it. */
export function isMonthDay(value: string): boolean {
  return /^\d\d-\d\d$/.test(value) && isCalendarDate(`2001-${value}`);
}

export interface SchoolYear {
  /** Its first day, `YYYY-MM-DD`. */
  first: string;
  /** Its last day: the day before the next year starts. */
  last: string;
}

/**
 * The school year under way at `nowMs` in the school's zone, which starts every year on `start`
 * (`MM-DD`). A zone the runtime does not know (a typo in an imported calendar) is read as UTC: the
 * year's edges move by hours, which does not change whether the calendar names days in it.
 */
export function schoolYearAt(nowMs: number, timeZone: string, start: string): SchoolYear {
  const today = localDate(nowMs, isTimeZone(timeZone) ? timeZone : 'UTC');
  const year = Number(today.slice(0, 4)) - (today.slice(5) < start ? 1 : 0);
  return { first: `${year}-${start}`, last: addDays(`${year + 1}-${start}`, -1) };
}

/** How many of the calendar's holidays and closures fall in the year. */
export function daysOffIn(
  calendar: Pick<Calendar, 'holidays' | 'closures'>,
  year: SchoolYear,
): { holidays: number; closures: number } {
  const within = (date: string) => date >= year.first && date <= year.last;
  return {
    holidays: calendar.holidays.filter(within).length,
    closures: calendar.closures.filter(within).length,
  };
}

/**
 * From when a signed document valid from `issuedAtMs` to `expiresAtMs` is flagged: `warningMs` before
 * it expires, but never before the bridge's own renewal has had its chance. The bridge signs a roster or
 * catalogue again once half its validity has run (roster/renewal.ts); the flag waits a day more (or a
 * quarter of the validity, if that is shorter), so it means the renewal is not happening. A roster
 * manifest is valid for seven days: a 14-day warning alone would flag every roster as it is signed.
 */
export function warnFrom(issuedAtMs: number, expiresAtMs: number, warningMs: number): number {
  const validity = expiresAtMs - issuedAtMs;
  const renewalDue = issuedAtMs + validity / 2;
  return Math.max(expiresAtMs - warningMs, renewalDue + Math.min(DAY_MS, validity / 4));
}
