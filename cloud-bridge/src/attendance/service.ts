import { type Calendar, type DenyReason, localDate } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import {
  byName,
  type Directory,
  type DirectoryPerson,
  type LeaveRecord,
  personLabel,
  SchoolTimes,
} from '../directory/index.js';
import { type BridgeStore, migrateModule } from '../store/index.js';
import { membershipAt, type Transfer, type TransferLog } from '../transfers/index.js';
import { addDays, isCalendarDate, isTimeZone, schoolDay, weekStart, zonedInstant } from './calendar.js';
import { dayCsv } from './csv.js';
import { type ClassInfo, computeDay, daySpan, gatesRecorded, onRoll, type Pupil } from './day.js';
import {
  ATTENDANCE_STEPS,
  type DayPassages,
  dayPassagesQuery,
  gateProjection,
  type Refusal,
  refusalsQuery,
  turnedAway,
} from './passages.js';
import type {
  AttendanceDay,
  ConsecutiveAbsence,
  ConsecutiveAbsences,
  TrendWeek,
  TurnedAwayPerson,
} from './types.js';

export interface AttendanceDeps {
  store: BridgeStore;
  directory: Directory;
  /** Pupils who changed school count at the old one until their transfer date, at the new one from it. */
  transfers?: TransferLog;
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
  /** The school's pupils on a date (of the class asked about): a transfer changes them from its date. */
  pupilsOn: (date: string) => Pupil[];
}

const DEFAULT_TIMES = SchoolTimes.parse({});
/** Later than any time a record can carry: the open end of a range. */
const END_OF_TIME = '9999-12-31T23:59:59.999Z';
const NO_REFUSALS: ReadonlyMap<string, Refusal> = new Map();
/** How far back a run of absences is followed: a pupil away longer shows this many weeks' school days. */
const ABSENCE_LOOKBACK_DAYS = 84;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Attendance from the gate passages: registers the passages projection (so it must be built before
 * ingest starts), and answers a day, a trend and the day as CSV.
 */
export class Attendance {
  private readonly dayPassages;
  private readonly refusals;
  private readonly now: () => number;

  constructor(private readonly deps: AttendanceDeps) {
    const db = deps.store.database;
    migrateModule(db, 'attendance', ATTENDANCE_STEPS);
    deps.store.addCommitProjection(gateProjection(db));
    this.dayPassages = dayPassagesQuery(db);
    this.refusals = refusalsQuery(db);
    this.now = deps.now ?? Date.now;
  }

  /** The school's local date now. */
  today(school: string): string {
    return localDate(this.now(), this.zoneOf(school));
  }

  /** The instant (ms) a date begins at the school. */
  startOfDay(school: string, date: string): number {
    return zonedInstant(date, '00:00', this.zoneOf(school));
  }

  /** The instant (ms) a date's school cut-off passes at the school: no class's is earlier. */
  cutoffOf(school: string, date: string): number {
    return zonedInstant(date, this.timesOf(school).cutoffTime, this.zoneOf(school));
  }

  /**
   * The instant (ms) the school's day ends on a date (its dismissal, after which the library's reminders
   * go home with the pupils), or undefined for a date that is no school day there.
   */
  dismissalOf(school: string, date: string): number | undefined {
    if (!schoolDay(date, this.calendarOf(school)).schoolDay) return undefined;
    return zonedInstant(date, this.timesOf(school).dismissalTime, this.zoneOf(school));
  }

  /** A date as the API takes it (`YYYY-MM-DD` or `today`), checked. */
  resolveDate(school: string, date: string): string {
    if (date === 'today') return this.today(school);
    if (!isCalendarDate(date)) throw new AttendanceQueryRefused(400, `not a date (YYYY-MM-DD): ${date}`);
    return date;
  }

  /** One day of a school (or of one class), per class and pupil. */
  readonly attendanceDay = (school: string, date: string, className?: string): AttendanceDay => {
    const { pupilsOn, ...context } = this.context(school, className);
    const { from, to } = daySpan(date, context.timeZone);
    return computeDay({
      school,
      date,
      ...context,
      pupils: pupilsOn(date),
      onLeave: this.onLeave(school, date, date)(date),
      passages: this.dayPassages(school, from, to),
      refusals: this.refusals(school, from, to),
      now: this.now(),
    });
  };

  /**
   * Who was refused entry (for `reason`, when given) since an instant and is outside because of it:
   * the people a lockdown keeps at the gate. Passages count from the start of that instant's school
   * day, so a pupil who came in before and taps again inside is not outside.
   */
  readonly turnedAwaySince = (school: string, since: string, reason?: DenyReason): TurnedAwayPerson[] => {
    const refused = this.refusals(school, since, END_OF_TIME, reason);
    if (refused.size === 0) return [];
    const dayStart = iso(this.startOfDay(school, localDate(Date.parse(since), this.zoneOf(school))));
    const passages = this.dayPassages(school, dayStart, END_OF_TIME);
    const outside: TurnedAwayPerson[] = [];
    for (const [personId, refusal] of refused) {
      if (!turnedAway(refusal, passages.get(personId))) continue;
      const { role: known, ...who } = personLabel(this.deps.directory, this.deps.store, personId, school);
      const role = refusal.role ?? known;
      outside.push({
        personId,
        ...who,
        ...(role ? { role } : {}),
        at: refusal.at,
        reason: refusal.reason,
        device: refusal.device,
      });
    }
    return outside.sort((a, b) => a.at.localeCompare(b.at));
  };

  /** The day as CSV (docs/attendance.md): what the central connector's file mode writes. */
  readonly attendanceCsv = (school: string, date: string, className?: string): string =>
    dayCsv(this.attendanceDay(school, date, className));

  /**
   * Week by week, oldest first, the last `weeks` ISO weeks up to this one. Days still to come, today
   * before its cut-off, and days on which the school's gates recorded nobody (not live yet, or down) are
   * not counted. Each day counts the pupils enrolled on it (`onRoll`), and those who changed school
   * where they were that day.
   */
  readonly attendanceTrend = (
    school: string,
    options: { weeks?: number; className?: string } = {},
  ): AttendanceTrend => {
    const weeks = options.weeks ?? 8;
    const { pupilsOn, ...context } = this.context(school, options.className);
    const now = this.now();
    const today = localDate(now, context.timeZone);
    const first = addDays(weekStart(today), -7 * (weeks - 1));
    const leaveOn = this.onLeave(school, first, today);
    const result: TrendWeek[] = [];
    for (let week = 0; week < weeks; week++) {
      const start = addDays(first, 7 * week);
      // The week's pupils as of its last day, or today for this week.
      const [asOf] = [addDays(start, 6), today].sort();
      const lastDay = daySpan(asOf as string, context.timeZone);
      const entry: TrendWeek = {
        weekStart: start,
        schoolDays: 0,
        pupils: pupilsOn(asOf as string).filter((pupil) => onRoll(pupil, lastDay, false)).length,
        present: 0,
        late: 0,
        absent: 0,
        rate: null,
      };
      for (let offset = 0; offset < 7; offset++) {
        const date = addDays(start, offset);
        const passages = this.countedDayPassages(school, context, date, now);
        if (!passages) continue;
        const day = computeDay({
          school,
          date,
          ...context,
          pupils: pupilsOn(date),
          onLeave: leaveOn(date),
          passages,
          // The trend counts statuses only: refusals change none.
          refusals: NO_REFUSALS,
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

  /**
   * The pupils absent (not on leave, and not come at all) on each of the school's last `minDays`
   * school days or more, longest first: those the school must follow up. The last day counted is today
   * once its cut-off has passed, else the school day before. A pupil enrolled since counts from then.
   * A school day on which the school's gates recorded nobody says nothing of anyone (its gates were not
   * live yet, or down, or the school closed without the calendar saying so): it is passed over, and
   * neither ends a run nor lengthens one.
   */
  readonly consecutiveAbsences = (
    school: string,
    options: { minDays?: number; className?: string } = {},
  ): ConsecutiveAbsences => {
    const minDays = options.minDays ?? 3;
    const { pupilsOn, ...context } = this.context(school, options.className);
    const now = this.now();
    const today = localDate(now, context.timeZone);
    const leaveOn = this.onLeave(school, addDays(today, -ABSENCE_LOOKBACK_DAYS), today);
    const runs = new Map<string, ConsecutiveAbsence>();
    let through: string | undefined;
    // Each day back keeps only those absent on every day after it: the days are computed for them alone.
    let running: Set<string> | undefined;
    for (let back = 0; back <= ABSENCE_LOOKBACK_DAYS && running?.size !== 0; back++) {
      const date = addDays(today, -back);
      const passages = this.countedDayPassages(school, context, date, now);
      if (!passages) continue;
      through ??= date;
      const day = computeDay({
        school,
        date,
        ...context,
        pupils: pupilsOn(date).filter((pupil) => running?.has(pupil.personId) ?? true),
        onLeave: leaveOn(date),
        passages,
        refusals: NO_REFUSALS,
        now,
      });
      const stillRunning = new Set<string>();
      for (const group of day.classes)
        for (const pupil of group.pupils) {
          // Not arrived: today, in a class whose own cut-off is later than the school's. Not missed
          // yet, so today neither counts for them nor ends their run.
          if (pupil.status === 'absent' || pupil.status === 'not-arrived') stillRunning.add(pupil.personId);
          if (pupil.status !== 'absent') continue;
          const run = runs.get(pupil.personId);
          if (run) {
            run.days++;
            run.since = date;
          } else
            runs.set(pupil.personId, {
              personId: pupil.personId,
              name: pupil.name,
              ...(pupil.studentNumber ? { studentNumber: pupil.studentNumber } : {}),
              class: group.class,
              days: 1,
              since: date,
            });
        }
      running = stillRunning;
    }
    return {
      school,
      ...(options.className ? { class: options.className } : {}),
      minDays,
      through: through ?? null,
      pupils: [...runs.values()]
        .filter((run) => run.days >= minDays)
        .sort((a, b) => b.days - a.days || a.class.localeCompare(b.class) || byName(a.name, b.name)),
    };
  };

  /**
   * A day's passages when the trend and the consecutive absences count it: a school day, past or
   * today after its cut-off, on which the gates recorded someone (else its absences are not known:
   * `gatesSilent`). The refusals are read only for a day without a passage.
   */
  private countedDayPassages(
    school: string,
    context: Omit<SchoolContext, 'pupilsOn'>,
    date: string,
    now: number,
  ): ReadonlyMap<string, DayPassages> | undefined {
    if (date > localDate(now, context.timeZone) || !schoolDay(date, context.calendar).schoolDay) return;
    if (now < zonedInstant(date, context.times.cutoffTime, context.timeZone)) return;
    const { from, to } = daySpan(date, context.timeZone);
    const passages = this.dayPassages(school, from, to);
    if (passages.size === 0 && !gatesRecorded(passages, this.refusals(school, from, to))) return;
    return passages;
  }

  /** The school's bell, cut-off and dismissal: the directory's, else the defaults. */
  private timesOf(school: string): SchoolTimes {
    return this.deps.directory.school(school)?.times ?? DEFAULT_TIMES;
  }

  /** The school's time zone: its calendar's, else the district's default. */
  readonly zoneOf = (school: string): string => {
    const zone = this.deps.store.rosterSettings(school)?.calendar?.timeZone;
    if (zone && isTimeZone(zone)) return zone;
    if (zone)
      this.deps.logger?.warn(
        { school, timeZone: zone },
        'calendar time zone unknown: attendance uses the default',
      );
    return this.deps.defaultTimeZone;
  };

  /** The school's days off and make-up days, from its roster's calendar (none without one). */
  private calendarOf(school: string): SchoolContext['calendar'] {
    const calendar = this.deps.store.rosterSettings(school)?.calendar;
    return {
      holidays: calendar?.holidays ?? [],
      closures: calendar?.closures ?? [],
      makeUpDays: calendar?.makeUpDays ?? [],
    };
  }

  private context(school: string, className?: string): SchoolContext {
    const { directory } = this.deps;
    const classes = new Map<string, ClassInfo>();
    for (const entry of directory.classes(school)) classes.set(entry.id, entry);
    const pupils = this.pupils(school);
    const ofClass = (list: Pupil[]) =>
      className === undefined ? list : list.filter((pupil) => pupil.class === className);
    if (className !== undefined && !ofClass(pupils).length && !classes.has(className))
      throw new AttendanceQueryRefused(404, `no class ${className} in ${school}`);
    const moved = this.deps.transfers?.peopleOf(school) ?? new Map();
    return {
      timeZone: this.zoneOf(school),
      calendar: this.calendarOf(school),
      times: this.timesOf(school),
      classes,
      pupilsOn: (date) => ofClass(moved.size ? this.pupilsOn(school, date, pupils, moved) : pupils),
    };
  }

  /**
   * The school's pupils on a date, for a school some pupils moved into or out of: those who were the
   * school's on the date, as it has them now or, for those who left since, as it had them then.
   */
  private pupilsOn(school: string, date: string, current: Pupil[], moved: Map<string, Transfer[]>): Pupil[] {
    const pupils = current.filter((pupil) => !moved.has(pupil.personId));
    for (const [personId, transfers] of moved) {
      const member = membershipAt(transfers, undefined, { date });
      if (member?.school !== school) continue;
      // No record of them as they were: they are the school's still, as it has them now.
      const pupil = member.person ? pupilOf(member.person) : current.find((p) => p.personId === personId);
      if (pupil) pupils.push(withoutEnrolment(pupil));
    }
    return pupils;
  }

  /**
   * The school's pupils: the directory's students with a class, each with the days they joined and
   * left the school (the register of a date lists those enrolled on it: `onRoll`); a school the
   * directory does not hold falls back to its roster's student cards that are not cancelled, one pupil
   * per person.
   */
  private pupils(school: string): Pupil[] {
    const enrolments = this.deps.directory.enrolments(school);
    if (enrolments.length) {
      const pupils: Pupil[] = [];
      for (const { person, joinedAt, leftAt, away } of enrolments) {
        const pupil = studentOf(person);
        if (!pupil) continue;
        if (joinedAt) pupil.joinedAt = joinedAt;
        if (leftAt) pupil.leftAt = leftAt;
        if (away) pupil.away = away;
        pupils.push(pupil);
      }
      return pupils;
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

/**
 * A moved pupil as of their transfer: it says since when they are the school's, whenever the
 * directory learnt of it.
 */
function withoutEnrolment({ joinedAt: _, away: __, ...pupil }: Pupil): Pupil {
  return pupil;
}

/** A directory person as attendance counts them: an active student with a class, else not at all. */
function pupilOf(person: DirectoryPerson): Pupil | undefined {
  return person.active ? studentOf(person) : undefined;
}

/** A student with a class as a pupil, whether still the school's or not (their enrolment says when). */
function studentOf(person: DirectoryPerson): Pupil | undefined {
  if (person.role !== 'student' || person.class === undefined) return undefined;
  return {
    personId: person.id,
    name: person.name,
    class: person.class,
    ...(person.studentNumber ? { studentNumber: person.studentNumber } : {}),
    ...(person.grade ? { grade: person.grade } : {}),
  };
}
