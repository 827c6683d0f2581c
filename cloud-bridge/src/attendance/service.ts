import type { Calendar } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import { type Directory, type LeaveRecord, SchoolTimes } from '../directory/index.js';
import { migrateModule, type SqliteBridgeStore } from '../store/index.js';
import {
  addDays,
  isCalendarDate,
  isTimeZone,
  localDate,
  schoolDay,
  weekStart,
  zonedInstant,
} from './calendar.js';
import { dayCsv } from './csv.js';
import { type ClassInfo, computeDay, type Pupil } from './day.js';
import { dayPassagesQuery, PASSAGE_STEPS, passageProjection } from './passages.js';
import type { AttendanceDay, TrendWeek } from './types.js';

export interface AttendanceDeps {
  store: SqliteBridgeStore;
  directory: Directory;
  /** The zone of a school whose roster carries no calendar yet. */
  defaultTimeZone: string;
  logger?: Logger;
  /** The clock, for "not arrived yet" and "today" (tests set it). */
  now?: () => number;
}

/** A class or a date the school does not have: the caller answers 404 or 400. */
export class AttendanceQueryRefused extends Error {
  constructor(
    readonly status: 400 | 404,
    message: string,
  ) {
    super(message);
  }
}

export interface AttendanceTrend {
  school: string;
  class?: string;
  weeks: TrendWeek[];
}

/** What every day of a school is computed against: loaded once per request. */
interface SchoolContext {
  timeZone: string;
  calendar: Pick<Calendar, 'holidays' | 'closures' | 'makeUpDays'>;
  times: SchoolTimes;
  classes: Map<string, ClassInfo>;
  pupils: Pupil[];
}

const DEFAULT_TIMES = SchoolTimes.parse({});
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Attendance from the gate passages: registers the passages projection (so it must be built before
 * ingest starts), and answers a day, a trend and the day as CSV.
 */
export class Attendance {
  private readonly dayPassages;
  private readonly now: () => number;

  constructor(private readonly deps: AttendanceDeps) {
    const db = deps.store.database;
    migrateModule(db, 'attendance', PASSAGE_STEPS);
    deps.store.addCommitProjection(passageProjection(db));
    this.dayPassages = dayPassagesQuery(db);
    this.now = deps.now ?? Date.now;
  }

  /** The school's local date now. */
  today(school: string): string {
    return localDate(this.now(), this.zoneOf(school));
  }

  /** A date as the API takes it (`YYYY-MM-DD` or `today`), checked. */
  resolveDate(school: string, date: string): string {
    if (date === 'today') return this.today(school);
    if (!isCalendarDate(date)) throw new AttendanceQueryRefused(400, `not a date (YYYY-MM-DD): ${date}`);
    return date;
  }

  /** One day of a school (or of one class), per class and pupil. */
  readonly attendanceDay = (school: string, date: string, className?: string): AttendanceDay => {
    const context = this.context(school, className);
    const from = iso(zonedInstant(date, '00:00', context.timeZone));
    const to = iso(zonedInstant(addDays(date, 1), '00:00', context.timeZone));
    return computeDay({
      school,
      date,
      ...context,
      onLeave: this.onLeave(school, date, date)(date),
      passages: this.dayPassages(school, from, to),
      now: this.now(),
    });
  };

  /** The day as CSV (docs/attendance.md): what the central connector's file mode writes. */
  readonly attendanceCsv = (school: string, date: string, className?: string): string =>
    dayCsv(this.attendanceDay(school, date, className));

  /**
   * Week by week, oldest first, the last `weeks` ISO weeks up to this one. Days still to come, and
   * today before its cut-off, are not counted. Class lists are today's.
   */
  readonly attendanceTrend = (
    school: string,
    options: { weeks?: number; className?: string } = {},
  ): AttendanceTrend => {
    const weeks = options.weeks ?? 8;
    const context = this.context(school, options.className);
    const now = this.now();
    const today = localDate(now, context.timeZone);
    const first = addDays(weekStart(today), -7 * (weeks - 1));
    const leaveOn = this.onLeave(school, first, today);
    const result: TrendWeek[] = [];
    for (let week = 0; week < weeks; week++) {
      const start = addDays(first, 7 * week);
      const entry: TrendWeek = {
        weekStart: start,
        schoolDays: 0,
        pupils: context.pupils.length,
        present: 0,
        late: 0,
        absent: 0,
        rate: null,
      };
      for (let offset = 0; offset < 7; offset++) {
        const date = addDays(start, offset);
        if (date > today || !schoolDay(date, context.calendar).schoolDay) continue;
        const cutoff = zonedInstant(date, context.times.cutoffTime, context.timeZone);
        if (date === today && now < cutoff) continue;
        const from = iso(zonedInstant(date, '00:00', context.timeZone));
        const to = iso(zonedInstant(addDays(date, 1), '00:00', context.timeZone));
        const day = computeDay({
          school,
          date,
          ...context,
          onLeave: leaveOn(date),
          passages: this.dayPassages(school, from, to),
          now,
        });
        entry.schoolDays++;
        entry.present += day.totals.present;
        entry.late += day.totals.late;
        entry.absent += day.totals.absent;
      }
      const seen = entry.present + entry.late + entry.absent;
      if (seen > 0) entry.rate = Math.round(((entry.present + entry.late) / seen) * 10_000) / 10_000;
      result.push(entry);
    }
    return { school, ...(options.className ? { class: options.className } : {}), weeks: result };
  };

  private zoneOf(school: string): string {
    const zone = this.deps.store.rosterSettings(school)?.calendar?.timeZone;
    if (zone && isTimeZone(zone)) return zone;
    if (zone)
      this.deps.logger?.warn(
        { school, timeZone: zone },
        'calendar time zone unknown: attendance uses the default',
      );
    return this.deps.defaultTimeZone;
  }

  private context(school: string, className?: string): SchoolContext {
    const calendar = this.deps.store.rosterSettings(school)?.calendar;
    const { directory } = this.deps;
    const classes = new Map<string, ClassInfo>();
    for (const entry of directory.classes(school)) classes.set(entry.id, entry);
    let pupils = this.pupils(school);
    if (className !== undefined) {
      pupils = pupils.filter((pupil) => pupil.class === className);
      if (!pupils.length && !classes.has(className))
        throw new AttendanceQueryRefused(404, `no class ${className} in ${school}`);
    }
    return {
      timeZone: this.zoneOf(school),
      calendar: {
        holidays: calendar?.holidays ?? [],
        closures: calendar?.closures ?? [],
        makeUpDays: calendar?.makeUpDays ?? [],
      },
      times: directory.school(school)?.times ?? DEFAULT_TIMES,
      classes,
      pupils,
    };
  }

  /**
   * The school's pupils: the directory's active students with a class; a school the directory does
   * not hold falls back to its roster's student cards that are not cancelled, one pupil per person.
   */
  private pupils(school: string): Pupil[] {
    const persons = this.deps.directory.persons(school);
    if (persons.length) {
      return persons
        .filter((person) => person.role === 'student' && person.active && person.class !== undefined)
        .map((person) => ({
          personId: person.id,
          name: person.name,
          class: person.class as string,
          ...(person.studentNumber ? { studentNumber: person.studentNumber } : {}),
          ...(person.grade ? { grade: person.grade } : {}),
        }));
    }
    const seen = new Map<string, Pupil>();
    for (const card of this.deps.store.rosterCards(school)) {
      if (card.role !== 'student' || card.status === 'cancelled' || !card.class || seen.has(card.personId))
        continue;
      seen.set(card.personId, {
        personId: card.personId,
        name: card.displayName ?? card.personId,
        class: card.class,
        ...(card.grade ? { grade: card.grade } : {}),
      });
    }
    return [...seen.values()];
  }

  /** Who is on leave on a date, for the dates from..to (one query for the whole range). */
  private onLeave(school: string, from: string, to: string): (date: string) => Set<string> {
    const leaves: LeaveRecord[] = this.deps.directory
      .leaves(school, from, to)
      .filter((leave) => !leave.cancelled);
    return (date) =>
      new Set(leaves.filter((leave) => leave.from <= date && leave.to >= date).map((l) => l.personId));
  }
}
