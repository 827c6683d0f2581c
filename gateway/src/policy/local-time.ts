import { wallClock, wallDate } from '@educard/terminal-sdk';

export { type WallClock, wallClock } from '@educard/terminal-sdk';

export interface LocalTime {
  /** YYYY-MM-DD in the school's time zone. */
  date: string;
  /** ISO weekday, 1 (Monday) to 7 (Sunday). */
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
}

export function localTime(epochMs: number, timeZone: string): LocalTime {
  const wall = wallClock(epochMs, timeZone);
  return {
    date: wallDate(wall),
    weekday: wall.weekday,
    minutes: wall.hour * 60 + wall.minute,
  };
}

/** The calendar day before `date` (YYYY-MM-DD), with its weekday. */
export function previousDay(date: string, weekday: number): { date: string; weekday: number } {
  const day = new Date(`${date}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() - 1);
  return { date: day.toISOString().slice(0, 10), weekday: weekday === 1 ? 7 : weekday - 1 };
}

/** Minutes since midnight of an `HH:MM` a schema has checked. */
export function minutesOf(clock: string): number {
  return Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3, 5));
}

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
