/**
 * SIP2 dates: 18 characters, `YYYYMMDDZZZZHHMMSS`. ZZZZ is four blanks for the library system's
 * local time, or a zone; we send `   Z` (UTC) or blanks with the wall clock of a configured zone, and
 * read either.
 */

import { type WallClock, wallClock } from '../policy/local-time.js';

const SIP_DATE = /^(\d{4})(\d{2})(\d{2})(.{4})(\d{2})(\d{2})(\d{2})$/;
const UTC_ZONES = new Set(['Z', 'UTC', 'GMT', 'UT']);

/** 'UTC' or an IANA zone ('Europe/Amsterdam'): which clock a SIP2 date without a zone is read on. */
export type Sip2TimeZone = string;

/** A wall-clock reading, as a SIP2 date carries it. */
type Wall = Omit<WallClock, 'weekday'>;

const asUtc = (w: Wall) => Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);

/** The instant at which the clocks of `timeZone` show `wall` (the earlier one in a DST overlap). */
function fromWallClock(wall: Wall, timeZone: string): number {
  const guess = asUtc(wall);
  if (timeZone === 'UTC') return guess;
  const offset = (t: number) => asUtc(wallClock(t, timeZone)) - Math.floor(t / 1000) * 1000;
  const first = guess - offset(guess);
  const second = guess - offset(first);
  return Math.min(first, second);
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** A SIP2 date: UTC with the zone `   Z`, or the wall clock of `timeZone` with a blank zone. */
export function formatSipDate(date: Date | number, timeZone: Sip2TimeZone = 'UTC'): string {
  const epochMs = typeof date === 'number' ? date : date.getTime();
  if (!Number.isFinite(epochMs)) throw new RangeError('not a date');
  const w = wallClock(epochMs, timeZone);
  const zone = timeZone === 'UTC' ? '   Z' : '    ';
  return `${pad(w.year, 4)}${pad(w.month, 2)}${pad(w.day, 2)}${zone}${pad(w.hour, 2)}${pad(w.minute, 2)}${pad(w.second, 2)}`;
}

/**
 * Reads a SIP2 date; a blank zone (or one we do not know) is the wall clock of `timeZone`. Anything
 * that is not such a date (a free-text due date some systems send in AH) gives undefined.
 */
export function parseSipDate(text: string, timeZone: Sip2TimeZone = 'UTC'): Date | undefined {
  const match = SIP_DATE.exec(text);
  if (!match) return undefined;
  const [, year, month, day, zone, hour, minute, second] = match;
  const wall: Wall = {
    year: Number(year),
    month: Number(month),
    day: Number(day),
    hour: Number(hour),
    minute: Number(minute),
    second: Number(second),
  };
  if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.hour > 23 || wall.minute > 59)
    return undefined;
  if (wall.second > 60) return undefined;
  const check = new Date(Date.UTC(wall.year, wall.month - 1, wall.day));
  if (check.getUTCDate() !== wall.day) return undefined;
  const utc = UTC_ZONES.has((zone ?? '').trim().toUpperCase());
  return new Date(fromWallClock(wall, utc ? 'UTC' : timeZone));
}

/**
 * A due date as library systems send it in AH: a SIP2 date, an ISO date, or `YYYY-MM-DD HH:MM(:SS)`
 * (Koha and Evergreen can be configured either way). Undefined for anything else.
 */
export function parseDueDate(text: string, timeZone: Sip2TimeZone = 'UTC'): Date | undefined {
  const trimmed = text.trim();
  const sip = parseSipDate(trimmed.length === 18 ? trimmed : text, timeZone);
  if (sip) return sip;
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(trimmed);
  if (local) {
    const [, y, mo, d, h, mi, s] = local;
    const wall: Wall = {
      year: Number(y),
      month: Number(mo),
      day: Number(d),
      hour: h === undefined ? 23 : Number(h),
      minute: mi === undefined ? 59 : Number(mi),
      second: s === undefined ? (h === undefined ? 59 : 0) : Number(s),
    };
    if (wall.month < 1 || wall.month > 12 || wall.day < 1 || wall.day > 31) return undefined;
    return new Date(fromWallClock(wall, timeZone));
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(trimmed)) {
    const date = new Date(trimmed);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }
  return undefined;
}
