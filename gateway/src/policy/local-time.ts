export interface LocalTime {
  /** YYYY-MM-DD in the school's time zone. */
  date: string;
  /** ISO weekday, 1 (Monday) to 7 (Sunday). */
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(timeZone, format);
  }
  return format;
}

/** What the clocks of a time zone show at an instant (weekday 1 is Monday). */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

export function wallClock(epochMs: number, timeZone: string): WallClock {
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(epochMs)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS[parts.weekday ?? ''] ?? 0,
  };
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
