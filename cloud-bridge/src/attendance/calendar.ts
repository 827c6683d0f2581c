import { type Calendar, wallClock, wallDate } from '@educard/terminal-sdk';
import type { NotSchoolDay } from './types.js';

/**
 * Local school time. Gate passages are stored in UTC; bell, cut-off and dismissal are wall-clock times
 * in the school calendar's time zone, so each is turned into a UTC instant of the day asked about.
 */

/** Whether the runtime knows the IANA zone (a calendar with a typo must not crash a report). */
export function isTimeZone(timeZone: string): boolean {
  try {
    wallClock(0, timeZone);
    return true;
  } catch {
    return false;
  }
}

/** How far the zone's wall clock is ahead of UTC at the instant `ms`. */
function offsetAt(ms: number, timeZone: string): number {
  const p = wallClock(ms, timeZone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - Math.floor(ms / 1000) * 1000;
}

/** The UTC instant (ms) of a wall-clock time `HH:MM` on `date` (YYYY-MM-DD) in the zone. */
export function zonedInstant(date: string, clock: string, timeZone: string): number {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hour, minute] = clock.split(':').map(Number) as [number, number];
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  // Two rounds settle the offset across a daylight-saving change (a wall time in a gap lands after it).
  const first = wall - offsetAt(wall, timeZone);
  return wall - offsetAt(first, timeZone);
}

/** The local wall-clock time `YYYY-MM-DD HH:MM:SS` of an ISO instant, for spreadsheets. */
export function localDateTime(iso: string, timeZone: string): string {
  const p = wallClock(Date.parse(iso), timeZone);
  return `${wallDate(p)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Whether `date` is a real calendar date in YYYY-MM-DD (2026-02-30 is not). */
export function isCalendarDate(date: string): boolean {
  if (!/^\d{4}-\d\d-\d\d$/.test(date)) return false;
  const ms = Date.parse(`${date}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().startsWith(date);
}

/** The date `days` after `date` (negative for before). */
export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** ISO weekday of a date: 1 is Monday, 7 is Sunday. */
export function isoWeekday(date: string): number {
  const day = new Date(`${date}T00:00:00Z`).getUTCDay();
  return day === 0 ? 7 : day;
}

/** The Monday of the ISO week `date` is in. */
export function weekStart(date: string): string {
  return addDays(date, 1 - isoWeekday(date));
}

/**
 * Whether pupils are expected at school that day. A closure (short notice) outranks everything, a
 * holiday outranks a weekend's make-up lesson listed by mistake on the same date, and a make-up day
 * turns a weekend into a school day.
 */
export function schoolDay(date: string, calendar: Pick<Calendar, 'holidays' | 'closures' | 'makeUpDays'>) {
  if (calendar.closures.includes(date)) return { schoolDay: false, reason: 'closure' as NotSchoolDay };
  if (calendar.holidays.includes(date)) return { schoolDay: false, reason: 'holiday' as NotSchoolDay };
  if (calendar.makeUpDays.some((day) => day.date === date)) return { schoolDay: true };
  if (isoWeekday(date) >= 6) return { schoolDay: false, reason: 'weekend' as NotSchoolDay };
  return { schoolDay: true };
}
