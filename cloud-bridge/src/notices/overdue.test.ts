import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Attendance, addDays, zonedInstant } from '../attendance/index.js';
import { Directory } from '../directory/index.js';
import { LoanLedger, libraryOverdueSources, type OverdueSources, overdueList } from '../library/index.js';
import { checkoutEvent, libraryRecords, returnEvent } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { pruneNotices, retireWebhooks } from './housekeeping.js';
import { NoticeLedger } from './ledger.js';
import type { OverdueNotice } from './notice.js';
import { OVERDUE_REMIND_WITHIN_MS, OverdueWatch } from './overdue.js';
import { forgetNoticesOf, noticesAbout } from './privacy.js';

// On a set clock: 2026-11-23 is a Monday; times are the school's (Asia/Shanghai), dismissal at 16:00.
const SCHOOL = 'school-1';
const ZONE = 'Asia/Shanghai';
const MONDAY = '2026-11-23';
const at = (date: string, clock: string) => zonedInstant(date, clock, ZONE);
const iso = (date: string, clock: string) => new Date(at(date, clock)).toISOString();
const HOOK = { key: 'hook-1', school: SCHOOL, overdueEveryDays: 7 };
const TITLES: Record<string, string> = { B1: '西游记', B2: '红楼梦', B3: '水浒传', B4: '三国演义' };

let dir: string;
let store: BridgeStore;
let directory: Directory;
let loans: LoanLedger;
let ledger: NoticeLedger;
let watch: OverdueWatch;
let now: number;
let lines: { msg: string; level: number }[];
let chain: EventRecord | undefined;
/** The school in lockdown, as the lockdown service answers (tested with it in lockdown.test.ts). */
let lockedDown: boolean;

/** The desk's loans, chained on from what it sent before. */
function desk(events: [type: string, at: string, data: Record<string, unknown>][]): void {
  const records = libraryRecords('desk-1', events, chain ? { seq: chain.seq, hash: chain.hash } : undefined);
  chain = records.at(-1);
  store.commitRecords('desk-1', SCHOOL, records);
}
const lend = (loanId: string, itemId: string, personId: string, dueAt: string) =>
  checkoutEvent(iso(addDays(MONDAY, -21), '10:00'), { loanId, itemId, personId, dueAt });
const back = (loanId: string, itemId: string, on: string) =>
  returnEvent(iso(on, '08:00'), { loanId, itemId });

/** The library's overdue list as the bridge reads it, the parents' reminders on it or not. */
const sourcesOf = (attendance: Attendance, remindersOf?: OverdueSources['remindersOf']) =>
  libraryOverdueSources({
    ledger: loans,
    catalogue: { titlesOf: () => (itemId: string) => TITLES[itemId] },
    directory,
    store,
    timeZoneOf: attendance.zoneOf,
    ...(remindersOf ? { remindersOf } : {}),
  });

const newWatch = () => {
  const attendance = new Attendance({ store, directory, defaultTimeZone: ZONE, now: () => now });
  const sources = sourcesOf(attendance);
  return new OverdueWatch({
    store,
    directory,
    attendance,
    overdueBooks: (school, when) => overdueList(sources, school, when),
    lockedDown: () => lockedDown,
    ledger,
    logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
  });
};
const round = (date: string, clock: string, hook = HOOK) => {
  now = at(date, clock);
  return watch.step(hook, now, 10);
};
/** The reminders queued for a webhook so far (the school's, unless named). */
const queued = (webhook = HOOK.key): OverdueNotice[] =>
  (
    store.database
      .prepare('SELECT notice FROM notice_queue WHERE webhook = ? ORDER BY id')
      .pluck()
      .all(webhook) as string[]
  ).map((notice) => JSON.parse(notice) as OverdueNotice);
/** Each reminder as the pupil it is for and the books it lists. */
const told = () =>
  queued().map((notice) => `${notice.date} ${notice.personId}: ${notice.books.map((b) => b.itemId)}`);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overdue-'));
  store = openTestStore(join(dir, 'bridge.db'));
  now = at(MONDAY, '07:00');
  directory = new Directory(store.database, () => now);
  loans = new LoanLedger(store);
  // The gate tables the notices read from are attendance's.
  new Attendance({ store, directory, defaultTimeZone: ZONE });
  ledger = new NoticeLedger(store.database);
  ledger.register(HOOK.key);
  lines = [];
  chain = undefined;
  lockedDown = false;
  directory.putSchool({
    id: SCHOOL,
    name: 'No. 1 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
  });
  directory.putSchool({
    id: 'school-2',
    name: 'No. 2 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
  });
  for (const [id, role, school, className] of [
    ['ann', 'student', SCHOOL, '3-1'],
    ['bo', 'student', SCHOOL, '4-2'],
    ['cai', 'student', SCHOOL, '3-1'],
    ['moved', 'student', 'school-2', '5-1'],
    ['left', 'student', SCHOOL, '6-1'],
    ['teacher', 'teacher', SCHOOL, undefined],
  ] as const)
    directory.putPerson({
      id,
      school,
      role,
      name: `Person ${id}`,
      ...(className ? { class: className } : {}),
      studentNumber: `G-${id}`,
      active: id !== 'left',
    });
  desk([
    // Ann: two books overdue since last week, one due this Monday evening, one due next month.
    lend('d:1', 'B1', 'ann', iso(addDays(MONDAY, -7), '23:59')),
    lend('d:2', 'B2', 'ann', iso(addDays(MONDAY, -3), '23:59')),
    lend('d:3', 'B3', 'ann', iso(MONDAY, '20:00')),
    lend('d:4', 'B4', 'ann', iso(addDays(MONDAY, 30), '23:59')),
    lend('d:5', 'X9', 'bo', iso(addDays(MONDAY, -1), '23:59')),
    // Cai's book falls overdue on Tuesday morning.
    lend('d:6', 'C1', 'cai', iso(addDays(MONDAY, 1), '07:00')),
    lend('d:7', 'M1', 'moved', iso(addDays(MONDAY, -10), '23:59')),
    lend('d:8', 'T1', 'teacher', iso(addDays(MONDAY, -10), '23:59')),
    lend('d:9', 'U1', 'stranger', iso(addDays(MONDAY, -10), '23:59')),
    // Left the school with a book: the office heard of it at the removal; no reminder goes.
    lend('d:10', 'L1', 'left', iso(addDays(MONDAY, -10), '23:59')),
  ]);
  watch = newWatch();
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('reminders of overdue books', () => {
  it("go after the school's dismissal, one a pupil listing every book overdue, oldest due first", () => {
    expect(round(MONDAY, '15:59')).toBe(0);
    expect(queued()).toEqual([]);
    expect(round(MONDAY, '16:00')).toBe(1);
    expect(queued()).toEqual([
      {
        id: `o${MONDAY}:ann`,
        kind: 'overdue',
        school: SCHOOL,
        personId: 'ann',
        studentNumber: 'G-ann',
        name: 'Person ann',
        class: '3-1',
        date: MONDAY,
        books: [
          { itemId: 'B1', title: '西游记', dueDate: addDays(MONDAY, -7), daysOverdue: 7 },
          { itemId: 'B2', title: '红楼梦', dueDate: addDays(MONDAY, -3), daysOverdue: 3 },
        ],
      },
      // A copy the catalogue no longer has is named by its barcode alone.
      expect.objectContaining({
        personId: 'bo',
        books: [{ itemId: 'X9', dueDate: '2026-11-22', daysOverdue: 1 }],
      }),
      // Moved to another school: still owes this school's library, and is told by it.
      expect.objectContaining({ personId: 'moved', nowAt: 'school-2', studentNumber: 'G-moved' }),
    ]);
    expect(queued()[2]).not.toHaveProperty('class');
    // Teachers are not told (the library asks its colleagues itself), nor a borrower nobody knows,
    // nor a pupil who left.
    expect(told().some((line) => /teacher|stranger|left/.test(line))).toBe(false);
    expect(lines.map((line) => line.msg)).toEqual(['overdue-book reminders queued']);
    // Once a day, whatever the rounds and restarts.
    expect(round(MONDAY, '17:00')).toBe(0);
    watch = newWatch();
    expect(round(MONDAY, '17:30')).toBe(1);
    expect(queued()).toHaveLength(3);
  });

  it('go again after the interval, or the day another book of the pupil fell overdue', () => {
    round(MONDAY, '16:00');
    const tuesday = addDays(MONDAY, 1);
    round(tuesday, '16:00');
    // Ann's third book fell due on Monday evening, after her reminder: she is told again, of all three.
    // Cai's first book fell due on Tuesday morning. Bo was told yesterday and nothing changed.
    expect(told().slice(3)).toEqual([`${tuesday} ann: B1,B2,B3`, `${tuesday} cai: C1`]);
    // Nothing on the weekend, nor on the days before a week has passed since each was told.
    for (const day of [2, 3, 4, 5, 6]) round(addDays(MONDAY, day), '16:30');
    expect(queued()).toHaveLength(5);
    // A week on, Bo and the pupil who moved are told again; Ann and Cai, told on Tuesday, on Tuesday.
    const nextMonday = addDays(MONDAY, 7);
    round(nextMonday, '16:00');
    expect(told().slice(5)).toEqual([`${nextMonday} bo: X9`, `${nextMonday} moved: M1`]);
    expect(queued().at(-2)?.books[0]?.daysOverdue).toBe(8);
  });

  it("are on the librarian's list beside each book they listed, with how far they got", () => {
    round(MONDAY, '16:00');
    const attendance = new Attendance({ store, directory, defaultTimeZone: ZONE, now: () => now });
    const sources = sourcesOf(attendance, (school) => ledger.overdueReminders(school));
    const list = overdueList(sources, SCHOOL, new Date(at(addDays(MONDAY, 1), '09:00')));
    const reminded = { date: MONDAY, at: iso(MONDAY, '16:00'), state: 'waiting' };
    // Ann's third book fell due after her parents' reminder, Cai's this morning: neither was in one.
    expect(list.loans.map((loan) => [loan.itemId, loan.parentsReminded])).toEqual([
      ['B1', reminded],
      ['B2', reminded],
      ['B3', undefined],
      ['C1', undefined],
      ['X9', reminded],
      ['L1', undefined],
      ['M1', reminded],
      ['T1', undefined],
      ['U1', undefined],
    ]);
  });

  it('stop once the books are back', () => {
    round(MONDAY, '16:00');
    desk([back('d:5', 'X9', addDays(MONDAY, 2)), back('d:7', 'M1', addDays(MONDAY, 3))]);
    const nextMonday = addDays(MONDAY, 7);
    round(nextMonday, '16:00');
    expect(told().slice(3)).toEqual([`${nextMonday} ann: B1,B2,B3`, `${nextMonday} cai: C1`]);
  });

  it('are not sent late in the evening: a bridge down all afternoon leaves them to the next school day', () => {
    const late = at(MONDAY, '16:00') + OVERDUE_REMIND_WITHIN_MS;
    now = late;
    expect(watch.step(HOOK, now, 10)).toBe(1);
    expect(queued()).toEqual([]);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'overdue-book reminders not sent today: the school day ended hours ago',
      }),
    ]);
    round(addDays(MONDAY, 1), '16:05');
    expect(queued().map((notice) => notice.personId)).toEqual(['ann', 'cai', 'bo', 'moved']);
  });

  it('wait while the school is in lockdown, and go once it ends, if the evening has not begun', () => {
    lockedDown = true;
    expect(round(MONDAY, '16:00')).toBe(1);
    expect(round(MONDAY, '16:00')).toBe(0);
    expect(round(MONDAY, '16:01')).toBe(1);
    expect(queued()).toEqual([]);
    lockedDown = false;
    round(MONDAY, '16:30');
    expect(queued().map((notice) => notice.personId)).toEqual(['ann', 'bo', 'moved']);
    expect(lines.map((line) => line.msg)).toEqual([
      'overdue-book reminders held: the school is in lockdown',
      'overdue-book reminders queued',
    ]);
    // A lockdown into the evening: the next school day.
    const tuesday = addDays(MONDAY, 1);
    lockedDown = true;
    round(tuesday, '16:00');
    lockedDown = false;
    round(tuesday, '19:00');
    expect(queued().filter((notice) => notice.date === tuesday)).toEqual([]);
  });

  it('go from every school to a district-wide webhook, within the round budget', () => {
    const district = { key: 'district', overdueEveryDays: 7 };
    ledger.register(district.key);
    now = at(MONDAY, '16:00');
    expect(watch.step(district, now, 1)).toBe(1);
    expect(watch.step(district, now, 1)).toBe(1);
    expect(watch.step(district, now, 1)).toBe(0);
    expect(queued(district.key).map((notice) => notice.personId)).toEqual(['ann', 'bo', 'moved']);
  });

  it("are a pupil's to see in their export and go with them, kept 30 days, and go with their webhook", () => {
    round(MONDAY, '16:00');
    expect(noticesAbout(store.database, 'bo')).toEqual([
      expect.objectContaining({
        webhook: HOOK.key,
        status: 'queued',
        notice: expect.objectContaining({ kind: 'overdue' }),
      }),
    ]);
    // Bo's reminder row and queued notice: forgotten, Bo is a pupil never told (told again at once).
    expect(forgetNoticesOf(store.database, 'bo')).toBe(2);
    expect(ledger.overdueToldOn(HOOK.key, SCHOOL).has('bo')).toBe(false);
    expect([...ledger.overdueToldOn(HOOK.key, SCHOOL).keys()].sort()).toEqual(['ann', 'moved']);

    const day = 86_400_000;
    const cutoffs = (keepOverdue: number) => ({
      deliveredBefore: now - 7 * day,
      givenUpBefore: now - 30 * day,
      overdueBefore: now - keepOverdue,
    });
    pruneNotices(store.database, cutoffs(30 * day));
    expect(ledger.overdueToldOn(HOOK.key, SCHOOL).size).toBe(2);
    now += 31 * day;
    pruneNotices(store.database, cutoffs(30 * day));
    expect(ledger.overdueToldOn(HOOK.key, SCHOOL).size).toBe(0);

    round(addDays(MONDAY, 1), '16:00');
    expect(ledger.overdueToldOn(HOOK.key, SCHOOL).size).toBe(4);
    expect(retireWebhooks(store.database, [])).toEqual([{ key: HOOK.key, undelivered: 6 }]);
    expect(ledger.overdueToldOn(HOOK.key, SCHOOL).size).toBe(0);
  });
});
