import type { Calendar } from '@educard/terminal-sdk';
import { type AwayPeriod, byClassId, byName, type SchoolTimes } from '../directory/index.js';
import { addDays, schoolDay, zonedInstant } from './calendar.js';
import { type DayPassages, type Refusal, turnedAway } from './passages.js';
import type { AttendanceDay, ClassDay, DayCounts, PupilDay, PupilStatus } from './types.js';

/** A pupil as attendance counts them: from the directory, or from the roster's cards. */
export interface Pupil {
  personId: string;
  name: string;
  studentNumber?: string;
  class: string;
  grade?: string;
  /** When the directory first held them at the school (absent: always). */
  joinedAt?: string;
  /** When the directory learnt they left (absent: still the school's). */
  leftAt?: string;
  /** The times they were marked as left and came back. */
  away?: readonly AwayPeriod[];
}

/** A school day as instants: its local midnight and the next (ISO UTC). */
export interface DaySpan {
  from: string;
  to: string;
}

export function daySpan(date: string, timeZone: string): DaySpan {
  return {
    from: iso(zonedInstant(date, '00:00', timeZone)),
    to: iso(zonedInstant(addDays(date, 1), '00:00', timeZone)),
  };
}

/**
 * Whether a pupil is on the register of a day: from the day the directory first held them, or any
 * earlier day they came (they had a card before the directory knew them), to the day they were marked
 * as left, that day only if they came (the office marks a leaver in the morning as often as after school).
 * A time away and back is a leaving and a joining again: off the days between, but for those they came.
 * Compared as instants: a school's register of 3,000 pupils converts no date.
 */
export function onRoll(pupil: Pupil, day: DaySpan, came: boolean): boolean {
  if (pupil.leftAt !== undefined && (pupil.leftAt < day.from || (pupil.leftAt < day.to && !came)))
    return false;
  if (came) return true;
  if (pupil.away?.some((away) => away.from < day.to && away.to >= day.to)) return false;
  return pupil.joinedAt === undefined || pupil.joinedAt < day.to;
}

export interface ClassInfo {
  id: string;
  name: string;
  grade?: string;
  bellTime?: string;
  dismissalTime?: string;
}

export interface DayInput {
  school: string;
  date: string;
  timeZone: string;
  calendar: Pick<Calendar, 'holidays' | 'closures' | 'makeUpDays'>;
  times: SchoolTimes;
  classes: ReadonlyMap<string, ClassInfo>;
  pupils: readonly Pupil[];
  /** Pupils with a leave (not cancelled) covering the date. */
  onLeave: ReadonlySet<string>;
  passages: ReadonlyMap<string, DayPassages>;
  /** Each person's latest refused entry of the day. */
  refusals: ReadonlyMap<string, Refusal>;
  now: number;
}

export const emptyCounts = (): DayCounts => ({
  pupils: 0,
  present: 0,
  late: 0,
  absent: 0,
  notArrived: 0,
  onLeave: 0,
  leftEarly: 0,
  turnedAway: 0,
});

const STATUS_COUNT: Record<PupilStatus, keyof DayCounts> = {
  present: 'present',
  late: 'late',
  absent: 'absent',
  'not-arrived': 'notArrived',
  'on-leave': 'onLeave',
};

interface ClassTimes {
  bell: string;
  cutoff: string;
  dismissal: string;
}

/**
 * One pupil's day. Any passage shows the pupil came (an exit alone: they came in behind someone);
 * the first entry after the bell is late, even after the cut-off (the pupil is there). A pupil on
 * leave who comes anyway counts as there. An exit as the last passage before dismissal is leaving early.
 * A refused entry that left the pupil outside is shown beside the status, whatever it is: the pupil
 * was at the gate.
 */
export function pupilStatus(
  passages: DayPassages | undefined,
  refusal: Refusal | undefined,
  onLeave: boolean,
  times: ClassTimes,
  now: string,
): Omit<PupilDay, 'personId' | 'name' | 'studentNumber'> {
  const leftAt = passages?.lastDirection === 'out' ? passages.last : undefined;
  const leftEarly = leftAt !== undefined && leftAt < times.dismissal;
  const outside = refusal && turnedAway(refusal, passages);
  const shown = {
    ...(passages?.firstIn ? { arrivedAt: passages.firstIn } : {}),
    ...(leftAt ? { leftAt } : {}),
    leftEarly,
    ...(outside ? { turnedAwayAt: refusal.at, turnedAwayReason: refusal.reason } : {}),
  };
  if (passages)
    return { status: passages.firstIn && passages.firstIn > times.bell ? 'late' : 'present', ...shown };
  if (onLeave) return { status: 'on-leave', ...shown };
  return { status: now >= times.cutoff ? 'absent' : 'not-arrived', ...shown };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Whether a school's gates recorded anyone on a day: a day they did not tells nothing of who came. */
export const gatesRecorded = (
  passages: ReadonlyMap<string, unknown>,
  refusals: ReadonlyMap<string, unknown>,
) => passages.size > 0 || refusals.size > 0;

/**
 * The attendance of one school day, per class. On a day that is no school day nobody is absent or
 * late: the pupils who came anyway are listed as present, and the rest are not listed.
 */
export function computeDay(input: DayInput): AttendanceDay {
  const { date, timeZone, times } = input;
  const day = schoolDay(date, input.calendar);
  const nowIso = iso(input.now);
  const schoolCutoff = iso(zonedInstant(date, times.cutoffTime, timeZone));
  const span = daySpan(date, timeZone);

  const byClass = new Map<string, Pupil[]>();
  for (const pupil of input.pupils) {
    if (!onRoll(pupil, span, input.passages.has(pupil.personId))) continue;
    const members = byClass.get(pupil.class);
    if (members) members.push(pupil);
    else byClass.set(pupil.class, [pupil]);
  }

  const totals = emptyCounts();
  const classes: ClassDay[] = [];
  for (const classId of [...byClass.keys()].sort(byClassId)) {
    const members = (byClass.get(classId) as Pupil[]).sort((a, b) => byName(a.name, b.name));
    const info = input.classes.get(classId);
    const bellClock = info?.bellTime ?? times.bellTime;
    // A class that starts after the school's cut-off gets until its own bell.
    const cutoffClock = bellClock.localeCompare(times.cutoffTime) > 0 ? bellClock : times.cutoffTime;
    const classTimes: ClassTimes = {
      bell: iso(zonedInstant(date, bellClock, timeZone)),
      cutoff: iso(zonedInstant(date, cutoffClock, timeZone)),
      dismissal: iso(zonedInstant(date, info?.dismissalTime ?? times.dismissalTime, timeZone)),
    };
    const counts = emptyCounts();
    counts.pupils = members.length;
    const pupils: PupilDay[] = [];
    for (const member of members) {
      const passages = input.passages.get(member.personId);
      if (!day.schoolDay && !passages) continue;
      const found = pupilStatus(
        passages,
        input.refusals.get(member.personId),
        input.onLeave.has(member.personId),
        classTimes,
        nowIso,
      );
      const shown: PupilDay = {
        personId: member.personId,
        name: member.name,
        ...(member.studentNumber ? { studentNumber: member.studentNumber } : {}),
        ...(day.schoolDay ? found : { ...found, status: 'present', leftEarly: false }),
      };
      counts[STATUS_COUNT[shown.status]]++;
      if (shown.leftEarly) counts.leftEarly++;
      if (shown.turnedAwayAt) counts.turnedAway++;
      pupils.push(shown);
    }
    for (const key of Object.keys(totals) as (keyof DayCounts)[]) totals[key] += counts[key];
    const grade = info?.grade ?? members[0]?.grade;
    classes.push({
      class: classId,
      name: info?.name ?? classId,
      ...(grade ? { grade } : {}),
      bellTime: classTimes.bell,
      cutoffTime: classTimes.cutoff,
      dismissalTime: classTimes.dismissal,
      counts,
      pupils,
    });
  }
  const cutoffPassed = nowIso >= schoolCutoff;
  return {
    school: input.school,
    date,
    timeZone,
    schoolDay: day.schoolDay,
    ...(day.reason ? { reason: day.reason } : {}),
    cutoffPassed,
    ...(day.schoolDay && cutoffPassed && !gatesRecorded(input.passages, input.refusals)
      ? { gatesSilent: true as const }
      : {}),
    generatedAt: nowIso,
    totals,
    classes,
  };
}
