import { wallClock } from '@educard/terminal-sdk';

export { type WallClock, wallClock } from '@educard/terminal-sdk';

export interface LocalTime {
  /** YYYY-MM-DD in the school's time zone. */
  date: string;
  /** ISO weekday, 1 (Monday) to 7 (Sunday). */
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

export function localTime(epochMs: number, timeZone: string): LocalTime {
  const wall = wallClock(epochMs, timeZone);
  return {
    date: `${wall.year}-${pad2(wall.month)}-${pad2(wall.day)}`,
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
