import { localTime } from '../../policy/index.js';

const MINUTE = 60_000;
const DAY_MINUTES = 24 * 60;

/**
 * The instant at `minutes` past local midnight on the school-local day of `near`. Exact on a day
 * whose UTC offset changes (a second reading corrects the first guess), except for a time that does
 * not exist that day (the hour skipped in spring), which lands an hour off.
 */
export function instantOn(near: number, minutes: number, timeZone: string): number {
  const local = localTime(near, timeZone);
  let guess = near - (near % MINUTE) + (minutes - local.minutes) * MINUTE;
  const check = localTime(guess, timeZone);
  const dayShift = check.date < local.date ? DAY_MINUTES : check.date > local.date ? -DAY_MINUTES : 0;
  guess += (minutes - check.minutes + dayShift) * MINUTE;
  return guess;
}

/** Local midnight at the start of the school-local day of `near`. */
export function dayStart(near: number, timeZone: string): number {
  return instantOn(near, 0, timeZone);
}

/** Whole minutes from `from` to `to`, never negative. */
export function wholeMinutes(from: number, to: number): number {
  return Math.max(0, Math.floor((to - from) / MINUTE));
}

/** Minutes left until `until`, rounded up (a session with 30 s left shows 1), never negative. */
export function minutesLeft(now: number, until: number): number {
  return Math.max(0, Math.ceil((until - now) / MINUTE));
}
