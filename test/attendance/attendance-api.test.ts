import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttendanceDay, addDays, type Bridge, weekStart, zonedInstant } from '@educard/cloud-bridge';
import { localDate } from '@educard/terminal-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startBridge } from '../support/bridge.js';
import { commitTaps } from '../support/gate-passages.js';
import { lastWeeksMonday, termDirectory } from '../support/school-day.js';

const SCHOOL = 'school-1';
const ZONE = 'Asia/Shanghai';
const today = localDate(Date.now(), ZONE);
/** Monday of last week: a whole school week in the past, whatever day the suite runs. */
const MONDAY = lastWeeksMonday(ZONE);
const local = (clock: string, date = MONDAY) => new Date(zonedInstant(date, clock, ZONE)).toISOString();

let dir: string;
let bridge: Bridge;

async function call(method: string, path: string, body?: unknown, token = ADMIN_TOKEN) {
  const response = await fetch(`${bridge.httpUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const type = response.headers.get('content-type') ?? '';
  return { status: response.status, type, text, json: type.includes('json') ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attendance-api-'));
  bridge = await startBridge(dir);
  for (const [id, className, name] of [
    ['p1', '3-1', '张三'],
    ['p2', '3-1', '李四'],
    ['p3', '3-1', '王五'],
    ['p4', '3-2', '赵六'],
  ] as const)
    termDirectory(bridge, ZONE).putPerson({
      id,
      school: SCHOOL,
      role: 'student',
      name,
      class: className,
      studentNumber: `G11010120150101000${id.slice(1)}`,
      active: true,
    });
  commitTaps(bridge, 'gate-1', SCHOOL, [
    { personId: 'p1', at: local('07:50'), direction: 'in' },
    { personId: 'p2', at: local('08:10'), direction: 'in' },
    { personId: 'p4', at: local('07:00'), direction: 'in' },
    { personId: 'p4', at: local('10:00'), direction: 'out' },
    // Refused (a lost card, by the test helper's default): absent, turned away at the gate.
    { personId: 'p3', at: local('08:20'), direction: 'in', decision: 'deny' },
  ]);
});
afterAll(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('school times and classes for a school without a central feed', () => {
  it('sets the school times; refuses a cut-off before the bell', async () => {
    const set = await call('PUT', `/v1/schools/${SCHOOL}/times`, {
      bellTime: '08:00',
      cutoffTime: '09:00',
      dismissalTime: '16:00',
      name: 'No. 1 Primary',
    });
    expect(set.status).toBe(200);
    expect(set.json).toEqual({
      id: SCHOOL,
      name: 'No. 1 Primary',
      times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
    });
    const bad = await call('PUT', `/v1/schools/${SCHOOL}/times`, {
      bellTime: '08:00',
      cutoffTime: '07:00',
      dismissalTime: '16:00',
    });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/cut-off/);
    expect(bridge.directory.school(SCHOOL)?.times.cutoffTime).toBe('09:00');
  });

  it('sets a class with its own dismissal time', async () => {
    const set = await call('PUT', `/v1/schools/${SCHOOL}/classes/3-2`, {
      name: 'Grade 3 Class 2',
      grade: '3',
      dismissalTime: '11:00',
    });
    expect(set.status).toBe(200);
    expect(bridge.directory.class(SCHOOL, '3-2')).toMatchObject({
      name: 'Grade 3 Class 2',
      dismissalTime: '11:00',
    });
    expect(
      (await call('PUT', `/v1/schools/${SCHOOL}/classes/3-1`, { name: 'Grade 3 Class 1', bellTime: '8am' }))
        .status,
    ).toBe(400);
    expect((await call('PUT', `/v1/schools/${SCHOOL}/classes/3-1`, { name: 'Grade 3 Class 1' })).status).toBe(
      200,
    );
  });
});

describe('the attendance day', () => {
  it('answers per class and pupil for a district admin', async () => {
    const { status, json } = await call('GET', `/v1/attendance/${SCHOOL}/days/${MONDAY}`);
    expect(status).toBe(200);
    const day = json as AttendanceDay;
    expect(day).toMatchObject({ school: SCHOOL, date: MONDAY, schoolDay: true, cutoffPassed: true });
    expect(day.totals).toEqual({
      pupils: 4,
      present: 2,
      late: 1,
      absent: 1,
      notArrived: 0,
      onLeave: 0,
      leftEarly: 1,
      turnedAway: 1,
    });
    const [first, second] = day.classes;
    expect(first).toMatchObject({
      class: '3-1',
      name: 'Grade 3 Class 1',
      bellTime: local('08:00'),
      cutoffTime: local('09:00'),
      dismissalTime: local('16:00'),
    });
    expect(first?.pupils.find((p) => p.personId === 'p2')).toEqual({
      personId: 'p2',
      name: '李四',
      studentNumber: 'G110101201501010002',
      status: 'late',
      arrivedAt: local('08:10'),
      leftEarly: false,
    });
    expect(first?.pupils.find((p) => p.personId === 'p3')).toMatchObject({
      status: 'absent',
      turnedAwayAt: local('08:20'),
      turnedAwayReason: 'lost',
    });
    // Class 3-2 is dismissed at 11:00: leaving at 10:00 is early.
    expect(second?.pupils).toEqual([
      expect.objectContaining({ personId: 'p4', status: 'present', leftAt: local('10:00'), leftEarly: true }),
    ]);
  });

  it('answers one class; an unknown class is 404, a date that is none 400, no token 401', async () => {
    const one = await call('GET', `/v1/attendance/${SCHOOL}/days/${MONDAY}?class=3-2`);
    expect(one.json.classes.map((c: { class: string }) => c.class)).toEqual(['3-2']);
    expect((await call('GET', `/v1/attendance/${SCHOOL}/days/${MONDAY}?class=9-9`)).status).toBe(404);
    expect((await call('GET', `/v1/attendance/${SCHOOL}/days/2026-02-30`)).status).toBe(400);
    expect((await call('GET', `/v1/attendance/${SCHOOL}/days/yesterday`)).status).toBe(400);
    expect((await call('GET', `/v1/attendance/${SCHOOL}/days/${MONDAY}`, undefined, '')).status).toBe(401);
    const now = await call('GET', `/v1/attendance/${SCHOOL}/days/today`);
    expect(now.json.date).toBe(localDate(Date.now(), ZONE));
  });

  it('gives the day as CSV, with a byte-order mark for Excel', async () => {
    const response = await fetch(`${bridge.httpUrl}/v1/attendance/${SCHOOL}/days/${MONDAY}.csv?class=3-1`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toContain(`attendance-${SCHOOL}-${MONDAY}-3-1.csv`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = new TextDecoder().decode(bytes.slice(3)).trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'date,class,class_name,grade,person_id,student_number,name,status,arrived_at,left_at,left_early,turned_away_at,turned_away_reason',
    );
    expect(lines).toHaveLength(4);
    expect(lines.find((l) => l.includes(',p2,'))).toMatch(
      new RegExp(
        `^${MONDAY},3-1,Grade 3 Class 1,,p2,G110101201501010002,李四,late,${MONDAY} 08:10:00,,no,,$`,
      ),
    );
  });

  it('gives the trend week by week', async () => {
    const { status, json } = await call('GET', `/v1/attendance/${SCHOOL}/trend?weeks=2`);
    expect(status).toBe(200);
    expect(json.weeks).toHaveLength(2);
    // Last week: Monday 2 present, 1 late, 1 absent; Tuesday to Friday the gates recorded nobody (not
    // counted: they tell nothing of who came).
    expect(json.weeks[0]).toEqual({
      weekStart: MONDAY,
      schoolDays: 1,
      pupils: 4,
      present: 2,
      late: 1,
      absent: 1,
      rate: 0.75,
    });
    expect(json.weeks[1].weekStart).toBe(weekStart(today));
    const one = await call('GET', `/v1/attendance/${SCHOOL}/trend?weeks=1&class=3-2`);
    expect(one.json).toMatchObject({ school: SCHOOL, class: '3-2' });
    expect((await call('GET', `/v1/attendance/${SCHOOL}/trend?weeks=0`)).status).toBe(400);
  });

  it('lists the pupils absent several school days running, audited as a read', async () => {
    // Nobody came since last Monday; a teacher passed a gate every school day since (days on which the
    // gates recorded nobody are passed over).
    const weekdays = (from: string, to: string) => {
      const dates: string[] = [];
      for (let date = from; date <= to; date = addDays(date, 1))
        if (![0, 6].includes(new Date(`${date}T12:00:00Z`).getUTCDay())) dates.push(date);
      return dates;
    };
    const tuesday = addDays(MONDAY, 1);
    commitTaps(
      bridge,
      'gate-2',
      SCHOOL,
      weekdays(tuesday, today).map((date) => ({
        personId: 't1',
        role: 'teacher',
        at: local('00:01', date),
        direction: 'in',
      })),
    );
    const { status, json } = await call('GET', `/v1/attendance/${SCHOOL}/consecutive-absences`);
    expect(status).toBe(200);
    const through = json.through as string;
    expect(through >= addDays(MONDAY, 4) && through <= today).toBe(true);
    const days = weekdays(tuesday, through).length;
    const run = (personId: string, className: string, name: string, longer = 0) => ({
      personId,
      name,
      studentNumber: `G11010120150101000${personId.slice(1)}`,
      class: className,
      days: days + longer,
      since: longer ? MONDAY : tuesday,
    });
    // p3 was refused on Monday as well (the first day the gates recorded anyone): absent longer, first.
    expect(json.pupils).toEqual([
      run('p3', '3-1', '王五', 1),
      run('p2', '3-1', '李四'),
      run('p1', '3-1', '张三'),
      run('p4', '3-2', '赵六'),
    ]);
    const one = await call('GET', `/v1/attendance/${SCHOOL}/consecutive-absences?days=2&class=3-2`);
    expect(one.json).toMatchObject({ class: '3-2', minDays: 2, pupils: [{ personId: 'p4' }] });
    expect((await call('GET', `/v1/attendance/${SCHOOL}/consecutive-absences?days=1`)).status).toBe(400);
    expect((await call('GET', `/v1/attendance/${SCHOOL}/consecutive-absences?class=9-9`)).status).toBe(404);
    bridge.reads.flush();
    const audit = await call('GET', '/v1/audit?action=read.attendance.absences');
    expect(audit.json.entries).toHaveLength(2);
  });
});
