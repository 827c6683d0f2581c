import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CardEntry, type EventRecord, type GateDecisionData, localDate } from '@educard/terminal-sdk';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { can, type Principal } from '../access/index.js';
import { Directory, type DirectoryPerson } from '../directory/index.js';
import { libraryRecords } from '../store/conformance.js';
import { type BridgeStore, migrateModule } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { TransferLog } from '../transfers/index.js';
import { isCalendarDate, schoolDay, weekStart, zonedInstant } from './calendar.js';
import { ATTENDANCE_CSV_COLUMNS } from './csv.js';
import { Attendance, type AttendanceDay, type PupilDay } from './index.js';
import { ATTENDANCE_STEPS } from './passages.js';

const SCHOOL = 'school-1';
const MONDAY = '2026-11-23';
const TERM_START = '2026-09-01';
/** Local school time (Asia/Shanghai, UTC+8) of the Monday as an ISO UTC instant. */
const local = (clock: string, date = MONDAY) =>
  new Date(zonedInstant(date, clock, 'Asia/Shanghai')).toISOString();

let dir: string;
let store: BridgeStore;
let directory: Directory;
let now: number;
let enrolledAt: number;
let attendance: Attendance;
const chains = new Map<string, { seq: number; hash: string }>();

type Tap = [personId: string, clock: string, direction: 'in' | 'out', extra?: Partial<GateDecisionData>];

/** Gate decisions of one device, chained on from what it sent before, committed as ingest would. */
function gate(device: string, taps: Tap[], date = MONDAY): void {
  const records = libraryRecords(
    device,
    taps.map(([personId, clock, direction, extra]) => [
      'gate.decision',
      local(clock, date),
      gateDecisionData({ personId, direction, ...extra }),
    ]),
    chains.get(device),
  );
  const last = records.at(-1) as EventRecord;
  chains.set(device, { seq: last.seq, hash: last.hash });
  store.commitRecords(device, SCHOOL, records);
}

function pupil(day: AttendanceDay, personId: string): PupilDay {
  for (const group of day.classes) {
    const found = group.pupils.find((p) => p.personId === personId);
    if (found) return found;
  }
  throw new Error(`${personId} not in the day`);
}

function person(id: string, className: string, extra: Record<string, unknown> = {}) {
  directory.putPerson({
    id,
    school: SCHOOL,
    role: 'student',
    name: `Pupil ${id}`,
    class: className,
    active: true,
    ...extra,
  } as never);
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attendance-'));
  store = openTestStore(join(dir, 'bridge.db'));
  // The directory's clock: the pupils were enrolled at the start of term unless a test says otherwise.
  enrolledAt = Date.parse(local('07:00', TERM_START));
  directory = new Directory(store.database, () => enrolledAt);
  now = Date.parse(local('10:00'));
  attendance = new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai', now: () => now });
  chains.clear();
  directory.putSchool({
    id: SCHOOL,
    name: 'No. 1 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:30', dismissalTime: '16:30' },
  });
  directory.putClass({ school: SCHOOL, id: '3-1', name: 'Grade 3 Class 1', grade: '3' });
  directory.putClass({
    school: SCHOOL,
    id: '1-2',
    name: 'Grade 1 Class 2',
    grade: '1',
    bellTime: '08:30',
    dismissalTime: '15:30',
  });
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the school calendar', () => {
  const calendar = {
    holidays: ['2026-10-01'],
    closures: ['2026-11-25'],
    makeUpDays: [{ date: '2026-09-27', as: 1 }],
  };
  it('weekends, holidays and closures are no school days; a make-up day on a weekend is one', () => {
    expect(schoolDay(MONDAY, calendar)).toEqual({ schoolDay: true });
    expect(schoolDay('2026-11-21', calendar)).toEqual({ schoolDay: false, reason: 'weekend' });
    expect(schoolDay('2026-10-01', calendar)).toEqual({ schoolDay: false, reason: 'holiday' });
    expect(schoolDay('2026-11-25', calendar)).toEqual({ schoolDay: false, reason: 'closure' });
    expect(schoolDay('2026-09-27', calendar)).toEqual({ schoolDay: true });
  });

  it('turns local wall-clock times into UTC, across a daylight-saving change', () => {
    expect(local('08:00')).toBe('2026-11-23T00:00:00.000Z');
    expect(local('00:00')).toBe('2026-11-22T16:00:00.000Z');
    // Berlin moves to summer time on 29 March 2026: 08:00 is UTC+2 after, UTC+1 the day before.
    expect(new Date(zonedInstant('2026-03-29', '08:00', 'Europe/Berlin')).toISOString()).toBe(
      '2026-03-29T06:00:00.000Z',
    );
    expect(new Date(zonedInstant('2026-03-28', '08:00', 'Europe/Berlin')).toISOString()).toBe(
      '2026-03-28T07:00:00.000Z',
    );
    expect(localDate(Date.parse('2026-11-22T16:30:00Z'), 'Asia/Shanghai')).toBe(MONDAY);
    expect(weekStart('2026-11-29')).toBe(MONDAY);
    expect(isCalendarDate('2026-02-30')).toBe(false);
    expect(isCalendarDate('2026-02-28')).toBe(true);
  });
});

describe('one school day', () => {
  beforeEach(() => {
    for (const id of [
      'ontime',
      'late',
      'absent',
      'leave',
      'leave-came',
      'left',
      'stayed',
      'back',
      'exit-only',
    ])
      person(id, '3-1');
    person('early-class', '1-2');
    person('gone', '3-1', { active: false });
    directory.putPerson({ id: 't1', school: SCHOOL, role: 'teacher', name: 'Teacher', active: true });
    for (const id of ['leave', 'leave-came'])
      directory.putLeave({
        id: `lv-${id}`,
        personId: id,
        school: SCHOOL,
        from: '2026-11-22',
        to: '2026-11-24',
        kind: 'sick',
        cancelled: false,
      });
    gate('gate-1', [
      ['ontime', '07:50', 'in'],
      ['late', '08:05', 'in'],
      ['leave-came', '07:55', 'in'],
      ['left', '07:40', 'in'],
      ['stayed', '07:40', 'in'],
      ['back', '07:45', 'in'],
      ['early-class', '08:20', 'in'],
      ['t1', '07:00', 'in'],
      ['gone', '07:00', 'in'],
      // A refused tap and a tap on a reader without direction are no passages.
      ['absent', '07:30', 'in', { decision: 'deny', reason: 'lost' }],
      ['absent', '07:31', 'none' as 'in'],
    ]);
    gate('gate-2', [
      ['left', '11:00', 'out'],
      ['back', '11:00', 'out'],
      ['back', '12:00', 'in'],
      ['exit-only', '12:30', 'out'],
    ]);
  });

  it('gives present, late, absent, on leave and left early by the class times, in local time', () => {
    now = Date.parse(local('13:00'));
    const day = attendance.attendanceDay(SCHOOL, MONDAY);
    expect(day).toMatchObject({ school: SCHOOL, date: MONDAY, schoolDay: true, cutoffPassed: true });
    expect(pupil(day, 'ontime')).toEqual({
      personId: 'ontime',
      name: 'Pupil ontime',
      status: 'present',
      arrivedAt: local('07:50'),
      leftEarly: false,
    });
    expect(pupil(day, 'late')).toMatchObject({ status: 'late', arrivedAt: local('08:05') });
    // Refused at the gate and never in: absent, and turned away (the school knows they were there).
    expect(pupil(day, 'absent')).toMatchObject({
      status: 'absent',
      leftEarly: false,
      turnedAwayAt: local('07:30'),
      turnedAwayReason: 'lost',
    });
    expect(pupil(day, 'absent').arrivedAt).toBeUndefined();
    expect(pupil(day, 'leave').status).toBe('on-leave');
    expect(pupil(day, 'leave-came').status).toBe('present');
    expect(pupil(day, 'left')).toMatchObject({ status: 'present', leftAt: local('11:00'), leftEarly: true });
    expect(pupil(day, 'back')).toMatchObject({ status: 'present', leftEarly: false });
    expect(pupil(day, 'back').leftAt).toBeUndefined();
    // Seen leaving without a tap in: was at school.
    expect(pupil(day, 'exit-only')).toMatchObject({ status: 'present', leftEarly: true });
    // Class 1-2 rings at 08:30: an 08:20 entry is on time there.
    expect(pupil(day, 'early-class').status).toBe('present');
    const grade3 = day.classes.find((c) => c.class === '3-1');
    expect(grade3).toMatchObject({
      name: 'Grade 3 Class 1',
      grade: '3',
      bellTime: local('08:00'),
      cutoffTime: local('09:30'),
      dismissalTime: local('16:30'),
      counts: {
        pupils: 9,
        present: 6,
        late: 1,
        absent: 1,
        notArrived: 0,
        onLeave: 1,
        leftEarly: 2,
        turnedAway: 1,
      },
    });
    expect(day.classes.map((c) => c.class)).toEqual(['1-2', '3-1']);
    expect(day.classes.find((c) => c.class === '1-2')?.dismissalTime).toBe(local('15:30'));
    expect(day.totals).toEqual({
      pupils: 10,
      present: 7,
      late: 1,
      absent: 1,
      notArrived: 0,
      onLeave: 1,
      leftEarly: 2,
      turnedAway: 1,
    });
    // Teachers and pupils who left the school are not counted.
    expect(() => pupil(day, 't1')).toThrow();
    expect(() => pupil(day, 'gone')).toThrow();
  });

  it('before the cut-off a pupil without an entry has not arrived yet; one class alone can be asked', () => {
    now = Date.parse(local('09:00'));
    const day = attendance.attendanceDay(SCHOOL, MONDAY, '3-1');
    expect(day.cutoffPassed).toBe(false);
    expect(day.classes.map((c) => c.class)).toEqual(['3-1']);
    expect(pupil(day, 'absent').status).toBe('not-arrived');
    expect(day.totals.notArrived).toBe(1);
    expect(day.totals.absent).toBe(0);
  });

  it('a day past its cut-off on which the gates recorded nobody says so: its absences are not known', () => {
    // Tuesday: nobody let in or refused. Wednesday: one refusal only, the gates were working.
    expect(attendance.attendanceDay(SCHOOL, '2026-11-24')).toMatchObject({ cutoffPassed: false });
    now = Date.parse(local('10:00', '2026-11-26'));
    expect(attendance.attendanceDay(SCHOOL, '2026-11-24').gatesSilent).toBe(true);
    gate('gate-1', [['absent', '08:00', 'in', { decision: 'deny', reason: 'expired' }]], '2026-11-25');
    expect(attendance.attendanceDay(SCHOOL, '2026-11-25')).not.toHaveProperty('gatesSilent');
    expect(attendance.attendanceDay(SCHOOL, MONDAY)).not.toHaveProperty('gatesSilent');
    // Today before the cut-off nobody may have come yet: nothing to say.
    now = Date.parse(local('07:00', '2026-11-27'));
    expect(attendance.attendanceDay(SCHOOL, '2026-11-27')).not.toHaveProperty('gatesSilent');
  });

  it('a refused entry turns a pupil away only while nothing took them in and they were not in already', () => {
    for (const id of ['passback', 'retried', 'lunch', 'lunch-back']) person(id, '3-1');
    gate('gate-1', [
      // Inside, tapping again: refused, and inside all the same.
      ['passback', '07:50', 'in'],
      ['passback', '07:51', 'in', { decision: 'deny', reason: 'passback' }],
      // Refused, then let in (a roster caught up): late, not outside.
      ['retried', '08:10', 'in', { decision: 'deny', reason: 'roster-stale' }],
      ['retried', '08:12', 'in'],
      // Out at lunch, and the school went into lockdown meanwhile.
      ['lunch', '07:45', 'in'],
      ['lunch', '12:00', 'out'],
      ['lunch', '12:10', 'in', { decision: 'deny', reason: 'lockdown' }],
      // The same, until the lockdown was lifted.
      ['lunch-back', '07:45', 'in'],
      ['lunch-back', '12:00', 'out'],
      ['lunch-back', '12:10', 'in', { decision: 'deny', reason: 'lockdown' }],
      ['lunch-back', '12:40', 'in'],
    ]);
    now = Date.parse(local('13:00'));
    const day = attendance.attendanceDay(SCHOOL, MONDAY, '3-1');
    expect(pupil(day, 'passback')).toMatchObject({ status: 'present' });
    expect(pupil(day, 'passback').turnedAwayAt).toBeUndefined();
    expect(pupil(day, 'retried')).toMatchObject({ status: 'late', arrivedAt: local('08:12') });
    expect(pupil(day, 'retried').turnedAwayAt).toBeUndefined();
    expect(pupil(day, 'lunch')).toMatchObject({
      status: 'present',
      leftAt: local('12:00'),
      leftEarly: true,
      turnedAwayAt: local('12:10'),
      turnedAwayReason: 'lockdown',
    });
    expect(pupil(day, 'lunch-back')).toMatchObject({ status: 'present', leftEarly: false });
    expect(pupil(day, 'lunch-back').turnedAwayAt).toBeUndefined();
    // 'absent' (a lost card at 07:30) and 'lunch'.
    expect(day.totals.turnedAway).toBe(2);

    // Who the lockdown keeps outside, from the order on: names from the directory.
    expect(attendance.turnedAwaySince(SCHOOL, local('11:30'), 'lockdown')).toEqual([
      {
        personId: 'lunch',
        name: 'Pupil lunch',
        class: '3-1',
        role: 'student',
        at: local('12:10'),
        reason: 'lockdown',
        device: 'gate-1',
      },
    ]);
    // Every reason, from the start of the day: the lost card too.
    expect(attendance.turnedAwaySince(SCHOOL, local('00:00')).map((p) => [p.personId, p.reason])).toEqual([
      ['absent', 'lost'],
      ['lunch', 'lockdown'],
    ]);
    expect(attendance.turnedAwaySince(SCHOOL, local('12:20'), 'lockdown')).toEqual([]);
  });

  it('a tap after local midnight (still the same date in UTC) belongs to the next day', () => {
    gate('gate-1', [['absent', '00:30', 'in']], '2026-11-24');
    const day = attendance.attendanceDay(SCHOOL, MONDAY);
    expect(pupil(day, 'absent').status).toBe('absent');
  });

  it('renders the day as CSV with a byte-order mark, one row per pupil, local times', () => {
    now = Date.parse(local('13:00'));
    directory.putPerson({
      id: 'quote',
      school: SCHOOL,
      role: 'student',
      name: '=王, "小明"',
      class: '3-1',
      active: true,
    });
    const csv = attendance.attendanceCsv(SCHOOL, MONDAY);
    expect(csv.startsWith('\uFEFFdate,class,')).toBe(true);
    const lines = csv.slice(1).trimEnd().split('\r\n');
    expect(lines[0]).toBe(ATTENDANCE_CSV_COLUMNS.join(','));
    expect(lines).toHaveLength(12);
    expect(lines).toContain(`${MONDAY},3-1,Grade 3 Class 1,3,late,,Pupil late,late,${MONDAY} 08:05:00,,no,,`);
    expect(lines).toContain(
      `${MONDAY},3-1,Grade 3 Class 1,3,left,,Pupil left,present,${MONDAY} 07:40:00,${MONDAY} 11:00:00,yes,,`,
    );
    expect(lines).toContain(`${MONDAY},3-1,Grade 3 Class 1,3,quote,,"'=王, ""小明""",absent,,,no,,`);
    expect(lines).toContain(
      `${MONDAY},3-1,Grade 3 Class 1,3,absent,,Pupil absent,absent,,,no,${MONDAY} 07:30:00,lost`,
    );
  });
});

describe('school days, fallbacks and the trend', () => {
  it('a weekend has no absences; a make-up weekend day does', () => {
    person('a', '3-1');
    person('b', '3-1');
    store.commitRosters([
      {
        school: SCHOOL,
        cards: [],
        settings: {
          calendar: {
            timeZone: 'Asia/Shanghai',
            holidays: [],
            closures: [],
            makeUpDays: [{ date: '2026-11-29', as: 1 }],
          },
          schedules: [],
        },
        version: {
          school: SCHOOL,
          version: 1,
          snapshotManifest: '{}',
          snapshotBody: new Uint8Array(),
          createdAt: new Date().toISOString(),
        },
      },
    ]);
    gate('gate-1', [['a', '09:00', 'in']], '2026-11-28');
    now = Date.parse(local('12:00', '2026-11-29'));
    const saturday = attendance.attendanceDay(SCHOOL, '2026-11-28');
    expect(saturday).toMatchObject({ schoolDay: false, reason: 'weekend' });
    expect(saturday.totals).toMatchObject({ pupils: 2, present: 1, late: 0, absent: 0 });
    expect(saturday.classes[0]?.pupils.map((p) => p.personId)).toEqual(['a']);
    const sunday = attendance.attendanceDay(SCHOOL, '2026-11-29');
    expect(sunday.schoolDay).toBe(true);
    expect(sunday.totals.absent).toBe(2);
  });

  it('a school the directory does not hold counts its roster cards, one pupil per person', () => {
    const card = (cardId: string, personId: string, extra: Partial<CardEntry> = {}): CardEntry => ({
      cardId,
      credential: { kind: 'uid', uid: '04A1B2C3' },
      personId,
      role: 'student',
      school: 'school-2',
      class: '2-1',
      status: 'active',
      validFrom: '2026-01-01T00:00:00Z',
      validUntil: '2027-01-01T00:00:00Z',
      zones: [],
      schedules: [],
      displayName: `Name ${personId}`,
      ...extra,
    });
    store.commitRosters([
      {
        school: 'school-2',
        cards: [
          card('C1', 'p1'),
          card('C2', 'p1', { status: 'lost' }),
          card('C3', 'p2', { status: 'cancelled' }),
          card('C4', 'p3', { role: 'teacher' }),
        ],
        settings: undefined,
        version: {
          school: 'school-2',
          version: 1,
          snapshotManifest: '{}',
          snapshotBody: new Uint8Array(),
          createdAt: new Date().toISOString(),
        },
      },
    ]);
    const day = attendance.attendanceDay('school-2', MONDAY);
    expect(day.classes).toEqual([
      expect.objectContaining({
        class: '2-1',
        name: '2-1',
        counts: expect.objectContaining({ pupils: 1, absent: 1 }),
      }),
    ]);
    expect(day.classes[0]?.pupils[0]).toMatchObject({ personId: 'p1', name: 'Name p1' });
    // Default times when the school is not in the directory.
    expect(day.classes[0]?.bellTime).toBe(local('08:00'));
  });

  it('an unknown class is refused', () => {
    expect(() => attendance.attendanceDay(SCHOOL, MONDAY, 'nope')).toThrow(/no class nope/);
  });

  it('the trend counts school days week by week, today only after the cut-off', () => {
    person('a', '3-1');
    person('b', '3-1');
    // Previous week: a every day on time, b late on Monday and absent the rest.
    const before = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20'];
    for (const date of before) gate('gate-1', [['a', '07:50', 'in']], date);
    gate('gate-1', [['b', '08:10', 'in']], '2026-11-16');
    // This week: Monday both on time; today (Tuesday) before the cut-off.
    gate(
      'gate-1',
      [
        ['a', '07:50', 'in'],
        ['b', '07:51', 'in'],
      ],
      MONDAY,
    );
    now = Date.parse(local('09:00', '2026-11-24'));
    const trend = attendance.attendanceTrend(SCHOOL, { weeks: 3 });
    expect(trend.weeks).toEqual([
      // No gate recorded anyone that week (they went live the next): not counted, not 0 %.
      { weekStart: '2026-11-09', schoolDays: 0, pupils: 2, present: 0, late: 0, absent: 0, rate: null },
      { weekStart: '2026-11-16', schoolDays: 5, pupils: 2, present: 5, late: 1, absent: 4, rate: 0.6 },
      { weekStart: MONDAY, schoolDays: 1, pupils: 2, present: 2, late: 0, absent: 0, rate: 1 },
    ]);
    expect(attendance.attendanceTrend(SCHOOL, { weeks: 1, className: '3-1' })).toMatchObject({
      class: '3-1',
    });
  });
});

describe('pupils absent several school days running', () => {
  it('are listed longest first up to the last day counted; leave, a day in or a later enrolment ends a run', () => {
    // No gate recorded anyone before Monday 16th (the gates went live then), nor on Thursday 19th (down).
    const week = ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-20', MONDAY];
    const came: Record<string, string[]> = {
      here: week,
      a: week.slice(0, 2),
      b: week.slice(0, 3),
      d: week.slice(0, 3),
    };
    for (const id of ['here', 'a', 'b', 'd']) person(id, '3-1');
    person('y', '1-2');
    directory.putClass({
      school: SCHOOL,
      id: '5-1',
      name: 'Grade 5 Class 1',
      grade: '5',
      bellTime: '13:00',
      dismissalTime: '17:00',
    });
    person('z', '5-1');
    for (const date of week)
      gate(
        'gate-1',
        Object.entries(came)
          .filter(([, dates]) => dates.includes(date))
          .map(([id]) => [id, '07:50', 'in'] as Tap),
        date,
      );
    // b was on sick leave on Friday; y is absent too, in another class; e was enrolled on Monday.
    directory.putLeave({
      id: 'lv-b',
      personId: 'b',
      school: SCHOOL,
      from: '2026-11-20',
      to: '2026-11-20',
      kind: 'sick',
      cancelled: false,
    });
    enrolledAt = Date.parse(local('07:00', MONDAY));
    person('e', '3-1');

    // Tuesday before the cut-off: Monday is the last day counted.
    now = Date.parse(local('09:00', '2026-11-24'));
    const runs = (minDays?: number, className?: string) =>
      attendance
        .consecutiveAbsences(SCHOOL, { ...(minDays ? { minDays } : {}), ...(className ? { className } : {}) })
        .pupils.map((run) => `${run.personId} ${run.days} since ${run.since}`);
    // y and z: every day the gates recorded anyone; a: Wednesday, Friday and Monday.
    expect(runs()).toEqual(['y 5 since 2026-11-16', 'z 5 since 2026-11-16', 'a 3 since 2026-11-18']);
    expect(attendance.consecutiveAbsences(SCHOOL, { className: '3-1' })).toEqual({
      school: SCHOOL,
      class: '3-1',
      minDays: 3,
      through: MONDAY,
      pupils: [{ personId: 'a', name: 'Pupil a', class: '3-1', days: 3, since: '2026-11-18' }],
    });
    expect(runs(2, '3-1')).toEqual(['a 3 since 2026-11-18', 'd 2 since 2026-11-20']);
    // After Tuesday's cut-off, a is absent a fourth day; d came.
    gate('gate-1', [['d', '08:00', 'in']], '2026-11-24');
    now = Date.parse(local('10:00', '2026-11-24'));
    expect(runs(2, '3-1')).toEqual(['a 4 since 2026-11-18', 'b 2 since 2026-11-23', 'e 2 since 2026-11-23']);
    // An afternoon class, its bell after the school's cut-off: today is not missed before its own
    // cut-off, and their run goes on through Monday meanwhile.
    expect(runs(2, '5-1')).toEqual(['z 5 since 2026-11-16']);
    now = Date.parse(local('13:30', '2026-11-24'));
    expect(runs(2, '5-1')).toEqual(['z 6 since 2026-11-16']);
  });
});

describe('who is on the register', () => {
  it('a pupil from the day the directory first held them, or an earlier day they came; a leaver until they left', () => {
    const roll = (date: string) =>
      attendance
        .attendanceDay(SCHOOL, date)
        .classes.flatMap((c) => c.pupils.map((p) => `${p.personId} ${p.status}`))
        .sort();
    person('old', '3-1');
    person('gone', '3-1');
    // The gates were live every day (a teacher passed each morning).
    for (const date of ['2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20', MONDAY])
      gate('gate-3', [['teacher', '07:00', 'in', { role: 'teacher' }]], date);
    // Enrolled on Wednesday 18th at noon; one of them had a card and came on the Tuesday already.
    enrolledAt = Date.parse(local('12:00', '2026-11-18'));
    person('new', '3-1');
    person('early', '3-1');
    gate('gate-1', [['early', '07:50', 'in']], '2026-11-17');
    // Marked as left: gone on Thursday before school (it did not come), old on Friday (it came).
    enrolledAt = Date.parse(local('07:00', '2026-11-19'));
    person('gone', '3-1', { active: false });
    gate('gate-1', [['old', '07:55', 'in']], '2026-11-20');
    enrolledAt = Date.parse(local('17:00', '2026-11-20'));
    person('old', '3-1', { active: false });

    expect(roll('2026-11-16')).toEqual(['gone absent', 'old absent']);
    expect(roll('2026-11-17')).toEqual(['early present', 'gone absent', 'old absent']);
    expect(roll('2026-11-18')).toEqual(['early absent', 'gone absent', 'new absent', 'old absent']);
    expect(roll('2026-11-19')).toEqual(['early absent', 'new absent', 'old absent']);
    expect(roll('2026-11-20')).toEqual(['early absent', 'new absent', 'old present']);
    expect(roll(MONDAY)).toEqual(['early absent', 'new absent']);
    // The trend counts the same: 13 absences that week, not 18 (four pupils every day).
    expect(attendance.attendanceTrend(SCHOOL, { weeks: 2 }).weeks).toEqual([
      { weekStart: '2026-11-16', schoolDays: 5, pupils: 2, present: 2, late: 0, absent: 13, rate: 0.1333 },
      { weekStart: MONDAY, schoolDays: 1, pupils: 2, present: 0, late: 0, absent: 2, rate: 0 },
    ]);

    // Back at the school on Tuesday 24th: on the register again from then, and away the days between
    // (a time away is a leaving and a joining again: on the days they came, as before they joined).
    gate('gate-2', [['gone', '08:00', 'in']], '2026-11-20');
    enrolledAt = Date.parse(local('07:00', '2026-11-24'));
    person('gone', '3-1');
    expect(directory.enrolments(SCHOOL).find((e) => e.person.id === 'gone')).toEqual({
      person: expect.objectContaining({ active: true }),
      joinedAt: local('07:00', TERM_START),
      away: [{ from: local('07:00', '2026-11-19'), to: local('07:00', '2026-11-24') }],
    });
    expect(roll('2026-11-18')).toEqual(['early absent', 'gone absent', 'new absent', 'old absent']);
    expect(roll('2026-11-19')).toEqual(['early absent', 'new absent', 'old absent']);
    expect(roll('2026-11-20')).toEqual(['early absent', 'gone present', 'new absent', 'old present']);
    expect(roll(MONDAY)).toEqual(['early absent', 'new absent']);
    now = Date.parse(local('10:00', '2026-11-24'));
    expect(roll('2026-11-24')).toEqual(['early absent', 'gone absent', 'new absent']);
    // Away again and back again: both times off the register.
    enrolledAt = Date.parse(local('16:00', '2026-11-24'));
    person('gone', '3-1', { active: false });
    enrolledAt = Date.parse(local('07:00', '2026-11-26'));
    person('gone', '3-1');
    now = Date.parse(local('10:00', '2026-11-26'));
    expect(roll('2026-11-25')).toEqual(['early absent', 'new absent']);
    expect(roll('2026-11-26')).toEqual(['early absent', 'gone absent', 'new absent']);
    expect(roll('2026-11-19')).toEqual(['early absent', 'new absent', 'old absent']);
    // A move to another school is a new enrolment.
    directory.putPerson({ ...(directory.person('new') as DirectoryPerson), school: 'school-2' });
    expect(directory.enrolments('school-2')).toEqual([
      { person: expect.objectContaining({ id: 'new' }), joinedAt: local('07:00', '2026-11-26') },
    ]);
  });
});

describe('who is on the register after a transfer', () => {
  it('a pupil moved in from the transfer’s date, though the directory learnt of it days later', () => {
    const transfers = new TransferLog(store.database);
    attendance = new Attendance({
      store,
      directory,
      transfers,
      defaultTimeZone: 'Asia/Shanghai',
      now: () => now,
    });
    const before = {
      id: 'moved',
      school: 'school-2',
      role: 'student',
      name: 'Pupil moved',
      class: '5-1',
      active: true,
    } as const;
    directory.putPerson(before);
    // Applied on Wednesday 18th, dated Monday 16th: the new school has them from the Monday.
    enrolledAt = Date.parse(local('12:00', '2026-11-18'));
    person('moved', '3-1');
    transfers.record({
      personId: 'moved',
      from: 'school-2',
      to: SCHOOL,
      on: '2026-11-16',
      effectiveAt: local('00:00', '2026-11-16'),
      at: local('12:00', '2026-11-18'),
      source: 'api',
      actor: 'admin-token',
      cards: [],
      versions: [],
      before,
    });
    const listed = (date: string) =>
      attendance.attendanceDay(SCHOOL, date).classes.flatMap((c) => c.pupils.map((p) => p.personId));
    expect(listed('2026-11-13')).toEqual([]);
    expect(listed('2026-11-16')).toEqual(['moved']);
    expect(listed('2026-11-17')).toEqual(['moved']);
  });
});

describe('gate passages', () => {
  it('are back-filled from the events stored before the module came', () => {
    store.close();
    store = openTestStore(join(dir, 'second.db'));
    gate('gate-9', [
      ['x', '07:50', 'in'],
      ['x', '16:40', 'out'],
      ['y', '07:51', 'in', { decision: 'deny', reason: 'lost' }],
    ]);
    migrateModule(store.database, 'attendance', ATTENDANCE_STEPS);
    const rows = store.database
      .prepare('SELECT person_id, direction, device, role, at FROM gate_passages ORDER BY event_id')
      .all();
    expect(rows).toEqual([
      { person_id: 'x', direction: 'in', device: 'gate-9', role: 'student', at: local('07:50') },
      { person_id: 'x', direction: 'out', device: 'gate-9', role: 'student', at: local('16:40') },
    ]);
    expect(store.database.prepare('SELECT person_id, reason, device, at FROM gate_refusals').all()).toEqual([
      { person_id: 'y', reason: 'lost', device: 'gate-9', at: local('07:51') },
    ]);
  });

  it('a store at the first schema gets the refusals it already holds, and both tables from then on', () => {
    store.close();
    store = openTestStore(join(dir, 'third.db'));
    migrateModule(store.database, 'attendance', {
      sqlite: ATTENDANCE_STEPS.sqlite.slice(0, 1),
      postgres: ATTENDANCE_STEPS.postgres.slice(0, 1),
    });
    gate('gate-9', [['y', '07:51', 'in', { decision: 'deny', reason: 'expired' }]]);
    attendance = new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai', now: () => now });
    gate('gate-9', [['y', '07:52', 'in', { decision: 'deny', reason: 'expired' }]]);
    expect(store.database.prepare('SELECT person_id, at FROM gate_refusals ORDER BY at').all()).toEqual([
      { person_id: 'y', at: local('07:51') },
      { person_id: 'y', at: local('07:52') },
    ]);
  });
});

describe('who may read attendance', () => {
  const headTeacher: Principal = {
    kind: 'account',
    id: 'a1',
    username: 'li',
    role: 'head-teacher',
    school: SCHOOL,
    className: '3-1',
  };
  it('a head teacher reads only their own class, never the whole school', () => {
    expect(can(headTeacher, 'attendance.read', { school: SCHOOL, className: '3-1' })).toBe(true);
    expect(can(headTeacher, 'attendance.read', { school: SCHOOL, className: '1-2' })).toBe(false);
    expect(can(headTeacher, 'attendance.read', { school: SCHOOL })).toBe(false);
    expect(can(headTeacher, 'roster.manage', { school: SCHOOL })).toBe(false);
    const schoolAdmin: Principal = { ...headTeacher, role: 'school-admin' };
    expect(can(schoolAdmin, 'attendance.read', { school: SCHOOL })).toBe(true);
    expect(can(schoolAdmin, 'attendance.read', { school: 'school-2' })).toBe(false);
  });
});
