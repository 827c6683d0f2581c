import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord, GateDecisionData } from '@educard/terminal-sdk';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Attendance, zonedInstant } from '../attendance/index.js';
import { Directory } from '../directory/index.js';
import { libraryRecords } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { migrateModule } from '../store/index.js';
import { openTestStore, testStoreBackend } from '../store/test-store.js';
import { AbsenceWatch } from './absence.js';
import { NoticesConfig } from './config.js';
import { NoticeLedger } from './ledger.js';
import type { AbsenceNotice } from './notice.js';
import { forgetNoticesOf, noticesAbout } from './privacy.js';
import { NOTICES_STEPS } from './schema.js';
import { Notices } from './service.js';

// A school day on a set clock: 2026-11-23 is a Monday; times are the school's (Asia/Shanghai).
const SCHOOL = 'school-1';
const MONDAY = '2026-11-23';
const at = (clock: string, date = MONDAY) => zonedInstant(date, clock, 'Asia/Shanghai');
const HOOK = { key: 'hook-1', school: SCHOOL };

let dir: string;
let store: BridgeStore;
let directory: Directory;
let ledger: NoticeLedger;
let watch: AbsenceWatch;
let attendance: Attendance;
let now: number;
let chain: { seq: number; hash: string } | undefined;

function taps(list: [personId: string, clock: string, extra?: Partial<GateDecisionData>][]): void {
  const records = libraryRecords(
    'gate-1',
    list.map(([personId, clock, extra]) => [
      'gate.decision',
      new Date(at(clock)).toISOString(),
      gateDecisionData({ personId, direction: 'in', ...extra }),
    ]),
    chain,
  );
  const last = records.at(-1) as EventRecord;
  chain = { seq: last.seq, hash: last.hash };
  store.commitRecords('gate-1', SCHOOL, records);
}

/** The absence notices queued for the webhook so far, by pupil. */
const queued = (): AbsenceNotice[] =>
  (
    store.database
      .prepare('SELECT notice FROM notice_queue WHERE webhook = ? ORDER BY id')
      .pluck()
      .all(HOOK.key) as string[]
  )
    .map((notice) => JSON.parse(notice) as AbsenceNotice)
    .filter((notice) => notice.kind === 'absent');

const round = (clock: string, date = MONDAY) => {
  now = at(clock, date);
  return watch.step(HOOK, now, 10);
};

/** A gate enrolled at a school. */
function enrollGate(id: string, school: string): void {
  const [token] = store.createTokens(school, 1, '2027-01-01T00:00:00.000Z') as [string];
  store.enrollDevice(token, { id, publicKey: 'k', secretHash: 'h' }, '2026-11-01T00:00:00.000Z');
}

let bdSeq = 0;
/** The gate's presence as its births and deaths set it, each newer than the last. */
function presence(online: boolean, clock: string, date = MONDAY): void {
  bdSeq++;
  store.recordPresence('gate-1', { online, bdSeq, at: new Date(at(clock, date)).toISOString() });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'absence-'));
  store = openTestStore(join(dir, 'bridge.db'));
  directory = new Directory(store.database, () => now);
  now = at('07:00');
  attendance = new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai', now: () => now });
  ledger = new NoticeLedger(store.database);
  ledger.register(HOOK.key);
  watch = new AbsenceWatch({ store, directory, attendance, ledger, logger: pino({ level: 'silent' }) });
  chain = undefined;
  directory.putSchool({
    id: SCHOOL,
    name: 'No. 1 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
  });
  directory.putClass({ school: SCHOOL, id: '3-1', name: 'Grade 3 Class 1' });
  // Class 1-2 starts at 09:45: its cut-off is its bell.
  directory.putClass({ school: SCHOOL, id: '1-2', name: 'Grade 1 Class 2', bellTime: '09:45' });
  for (const [id, className] of [
    ['came', '3-1'],
    ['leave', '3-1'],
    ['refused', '3-1'],
    ['away', '3-1'],
    ['late-class', '1-2'],
  ])
    directory.putPerson({
      id: id as string,
      school: SCHOOL,
      role: 'student',
      name: `Pupil ${id}`,
      class: className as string,
      studentNumber: `G-${id}`,
      active: true,
    });
  directory.putLeave({
    id: 'lv-1',
    personId: 'leave',
    school: SCHOOL,
    from: MONDAY,
    to: MONDAY,
    kind: 'sick',
    cancelled: false,
  });
  enrollGate('gate-1', SCHOOL);
  presence(true, '06:00');
  taps([
    ['came', '07:50'],
    ['refused', '08:10', { decision: 'deny', reason: 'expired' }],
  ]);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('absence notices', () => {
  it('go once per pupil after their class’s cut-off: not for one who came or is on leave', () => {
    expect(round('08:59')).toBe(0);
    expect(queued()).toEqual([]);
    expect(round('09:00')).toBe(1);
    expect(queued()).toEqual([
      {
        id: `a${MONDAY}:away`,
        kind: 'absent',
        school: SCHOOL,
        personId: 'away',
        studentNumber: 'G-away',
        name: 'Pupil away',
        class: '3-1',
        date: MONDAY,
        cutoffAt: new Date(at('09:00')).toISOString(),
      },
      // Refused at the gate: the parent learns the child came, and why they were not let in.
      expect.objectContaining({
        personId: 'refused',
        turnedAwayAt: new Date(at('08:10')).toISOString(),
        turnedAwayReason: 'expired',
      }),
    ]);
    // Nothing until the next class's cut-off; then its pupil, and nobody twice.
    expect(round('09:30')).toBe(0);
    expect(round('09:45')).toBe(1);
    expect(queued().map((n) => n.personId)).toEqual(['away', 'refused', 'late-class']);
    expect(round('12:00')).toBe(0);
  });

  it('are queued once whatever the restarts: the ledger keeps who was told', () => {
    round('09:50');
    expect(queued()).toHaveLength(3);
    attendance = new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai', now: () => now });
    const again = new AbsenceWatch({
      store,
      directory,
      attendance,
      ledger,
      logger: pino({ level: 'silent' }),
    });
    expect(again.step(HOOK, now, 10)).toBe(1);
    expect(queued()).toHaveLength(3);
  });

  it('wait while a gate of the school is offline or just back, and go once it has caught up', () => {
    presence(false, '08:30');
    round('09:00');
    expect(queued()).toEqual([]);
    expect(watch.held(HOOK.key)).toEqual([
      { school: SCHOOL, date: MONDAY, reason: 'gates-offline', gates: ['gate-1'] },
    ]);
    // Back at 09:20 with what it kept: the pupil it let in while offline came after all.
    presence(true, '09:20');
    taps([['away', '08:20']]);
    round('09:20');
    expect(queued()).toEqual([]);
    round('09:22');
    expect(queued().map((n) => n.personId)).toEqual(['refused']);
    expect(watch.held(HOOK.key)).toEqual([]);
  });

  it('are not held by a gate out of service for more than a day', () => {
    presence(false, '09:00', '2026-11-21');
    round('09:00');
    expect(queued().map((n) => n.personId)).toEqual(['away', 'refused']);
  });

  it('are not sent after the class’s dismissal, nor on a day that is no school day', () => {
    round('16:30');
    expect(queued()).toEqual([]);
    round('09:30', '2026-11-28');
    expect(queued()).toEqual([]);
  });

  it('a district-wide webhook hears of every school, a few schools a round', () => {
    directory.putSchool({
      id: 'school-2',
      name: 'No. 2 Primary',
      times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
    });
    directory.putPerson({
      id: 'other',
      school: 'school-2',
      role: 'student',
      name: 'Other',
      class: '5-1',
      active: true,
    });
    // A teacher came in at school 2's gate: its gates are in use.
    enrollGate('gate-2', 'school-2');
    store.commitRecords(
      'gate-2',
      'school-2',
      libraryRecords('gate-2', [
        [
          'gate.decision',
          new Date(at('07:40')).toISOString(),
          gateDecisionData({ personId: 't', role: 'teacher' }),
        ],
      ]),
    );
    now = at('09:10');
    const district = { key: HOOK.key };
    expect(watch.step(district, now, 1)).toBe(1);
    expect(watch.step(district, now, 1)).toBe(1);
    expect(watch.step(district, now, 1)).toBe(0);
    expect(queued().map((n) => `${n.school} ${n.personId}`)).toEqual([
      'school-1 away',
      'school-1 refused',
      'school-2 other',
    ]);
  });

  it('wait while no gate of the school has recorded anyone that day: every parent would be told; none go without a gate', () => {
    // A school whose gates are not in use yet (or all down): nobody let in, nobody refused.
    directory.putSchool({
      id: 'school-3',
      name: 'No. 3 Primary',
      times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
    });
    for (const id of ['x1', 'x2'])
      directory.putPerson({ id, school: 'school-3', role: 'student', name: id, class: '1-1', active: true });
    const hook = { key: HOOK.key, school: 'school-3' };
    now = at('09:10');
    // No gate at all: nothing could say who came. No notice, and nothing held (no alert).
    watch.step(hook, now, 10);
    expect(queued().filter((n) => n.school === 'school-3')).toEqual([]);
    expect(watch.held(HOOK.key)).toEqual([]);
    // Its gate is installed the next day and records nobody by the cut-off: held.
    enrollGate('gate-3', 'school-3');
    now = at('09:10', '2026-11-24');
    watch.step(hook, now, 10);
    expect(queued().filter((n) => n.school === 'school-3')).toEqual([]);
    expect(watch.held(HOOK.key)).toEqual([
      { school: 'school-3', date: '2026-11-24', reason: 'gates-silent', gates: [] },
    ]);
    // The gate comes into use at 09:30: x1 comes in; x2's parents are told at the next look.
    store.commitRecords(
      'gate-3',
      'school-3',
      libraryRecords('gate-3', [
        [
          'gate.decision',
          new Date(at('09:30', '2026-11-24')).toISOString(),
          gateDecisionData({ personId: 'x1' }),
        ],
      ]),
    );
    now = at('09:40', '2026-11-24');
    watch.step(hook, now, 10);
    expect(
      queued()
        .filter((n) => n.school === 'school-3')
        .map((n) => n.personId),
    ).toEqual(['x2']);
    expect(watch.held(HOOK.key)).toEqual([]);
  });

  it('say per pupil what the parents were told: on its way, delivered or given up, the furthest of every webhook', () => {
    const iso = (clock: string) => new Date(at(clock)).toISOString();
    const told = () => Object.fromEntries(ledger.absenceNotices(SCHOOL, MONDAY));
    round('09:00');
    expect(told()).toEqual({
      away: { state: 'waiting', at: iso('09:00') },
      refused: { state: 'waiting', at: iso('09:00') },
    });
    // One notice a delivery, in the order queued: away's, then refused's.
    const send = (key: string, outcomes: ('delivered' | 'given-up')[], clock: string) => {
      const hook = { key, school: SCHOOL, debounceMs: 0, batchWindowMs: 0, batchMax: 1 };
      const people = { schoolOf: () => SCHOOL, describe: () => undefined };
      ledger.advance(hook, at(clock), people, store.settledEventId());
      for (const outcome of outcomes) {
        const delivery = ledger.nextDelivery(key);
        if (!delivery) throw new Error(`no delivery for ${key}`);
        if (outcome === 'delivered') ledger.delivered(key, delivery.seq, at(clock));
        else ledger.givenUp(key, delivery.seq, 'HTTP 410', at(clock));
      }
    };
    send(HOOK.key, ['delivered', 'given-up'], '09:01');
    expect(told()).toEqual({
      away: { state: 'delivered', at: iso('09:01') },
      refused: { state: 'given-up', at: iso('09:01') },
    });
    // A second webhook (the district's text messages) still on its way to the parents given up on.
    const second = { key: 'hook-2', school: SCHOOL };
    ledger.register(second.key);
    watch.step(second, now, 10);
    expect(told().refused).toEqual({ state: 'waiting', at: iso('09:00') });
    send(second.key, ['given-up', 'delivered'], '09:02');
    expect(told()).toEqual({
      away: { state: 'delivered', at: iso('09:01') },
      refused: { state: 'delivered', at: iso('09:02') },
    });
    expect(ledger.absenceNotices('school-2', MONDAY).size).toBe(0);
    expect(ledger.absenceNotices(SCHOOL, '2026-11-24').size).toBe(0);
  });

  it('of a leaver are forgotten when they are anonymised; the other pupils’ stay, in the batch they went in', () => {
    round('09:00');
    const hook = { key: HOOK.key, school: SCHOOL, debounceMs: 0, batchWindowMs: 0, batchMax: 10 };
    const people = { schoolOf: () => SCHOOL, describe: () => undefined };
    ledger.advance(hook, at('09:01'), people, store.settledEventId());
    const delivery = ledger.nextDelivery(HOOK.key);
    if (!delivery) throw new Error('no delivery');
    ledger.givenUp(HOOK.key, delivery.seq, 'HTTP 410', at('09:01'));
    const kept = () =>
      store.database.prepare('SELECT body, notices FROM notice_deliveries').all() as {
        body: string;
        notices: number;
      }[];
    const personsIn = (body: string) =>
      (JSON.parse(body) as { notices: AbsenceNotice[] }).notices.map((n) => n.personId);
    expect(kept().map((row) => personsIn(row.body))).toEqual([['away', 'refused']]);
    // What their subject-access export shows of it: their notice alone, given up.
    expect(noticesAbout(store.database, 'away')).toEqual([
      {
        webhook: HOOK.key,
        queuedAt: expect.any(String),
        status: 'failed',
        doneAt: new Date(at('09:01')).toISOString(),
        notice: expect.objectContaining({ kind: 'absent', personId: 'away', school: SCHOOL, date: MONDAY }),
      },
    ]);

    // Their absence row, their queued notice and their notice in the batch.
    expect(forgetNoticesOf(store.database, 'away')).toBe(3);
    expect([...ledger.absenceNotices(SCHOOL, MONDAY).keys()]).toEqual(['refused']);
    expect(queued().map((notice) => notice.personId)).toEqual(['refused']);
    expect(kept().map((row) => [personsIn(row.body), row.notices])).toEqual([[['refused'], 1]]);
    expect(ledger.status(HOOK.key).failedDeliveries).toHaveLength(1);
    // The last pupil of a batch takes the batch with them.
    expect(forgetNoticesOf(store.database, 'refused')).toBe(3);
    expect(kept()).toEqual([]);
    expect(forgetNoticesOf(store.database, 'refused')).toBe(0);
    expect(noticesAbout(store.database, 'away')).toEqual([]);
  });

  it('queued by the watch stand when the round of notices after it cannot be stored', async () => {
    const lines: { msg: string }[] = [];
    const notices = new Notices({
      store,
      directory,
      attendance,
      config: NoticesConfig.parse({
        webhooks: [{ school: SCHOOL, url: 'http://127.0.0.1:9/hook', secret: 's'.repeat(32), absence: true }],
      }),
      logger: pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) }),
      now: () => now,
    });
    const [hook] = notices.status();
    const told = () =>
      (
        store.database
          .prepare('SELECT notice FROM notice_queue WHERE webhook = ? ORDER BY id')
          .pluck()
          .all(hook?.key) as string[]
      ).map((notice) => (JSON.parse(notice) as { personId: string }).personId);
    // The round's commit fails whenever it holds a burst: a check deferred to the commit refuses it.
    store.database.exec(
      testStoreBackend() === 'postgres'
        ? `CREATE FUNCTION refuse_round() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'round refused'; END $$ LANGUAGE plpgsql;
           CREATE CONSTRAINT TRIGGER refuse_round AFTER INSERT ON notice_bursts DEFERRABLE INITIALLY DEFERRED
             FOR EACH ROW EXECUTE FUNCTION refuse_round();`
        : `CREATE TABLE round_parent (id INTEGER PRIMARY KEY);
           CREATE TABLE round_check (ref INTEGER REFERENCES round_parent (id) DEFERRABLE INITIALLY DEFERRED);
           CREATE TRIGGER refuse_round AFTER INSERT ON notice_bursts BEGIN INSERT INTO round_check VALUES (1); END;`,
    );
    try {
      taps([['came', '08:59', { direction: 'out' }]]);
      now = at('09:01');
      notices.tick();
      expect(lines.map((line) => line.msg)).toEqual(['parent notices: the round could not be stored']);
      expect(told()).toEqual(['away', 'refused']);
      store.database.exec(
        testStoreBackend() === 'postgres'
          ? 'DROP TRIGGER refuse_round ON notice_bursts'
          : 'DROP TRIGGER refuse_round',
      );
      now = at('09:02');
      notices.tick();
      expect(told()).toEqual(['away', 'refused', 'came']);
    } finally {
      await notices.stop();
    }
  });

  it('queued before the upgrade are matched to their school and notice', () => {
    store.close();
    store = openTestStore(join(dir, 'second.db'));
    new Attendance({ store, directory: new Directory(store.database), defaultTimeZone: 'Asia/Shanghai' });
    migrateModule(store.database, 'notices', {
      sqlite: NOTICES_STEPS.sqlite.slice(0, 2),
      postgres: NOTICES_STEPS.postgres.slice(0, 2),
    });
    const old = { webhook: HOOK.key, date: MONDAY, createdAt: new Date(at('09:00')).toISOString() };
    for (const personId of ['away', 'refused']) {
      const notice = { id: `a${MONDAY}:${personId}`, kind: 'absent', school: SCHOOL, personId, date: MONDAY };
      store.database
        .prepare('INSERT INTO notice_queue (webhook, notice, created_at) VALUES (?, ?, ?)')
        .run(old.webhook, JSON.stringify(notice), old.createdAt);
      store.database
        .prepare('INSERT INTO notice_absences (webhook, date, person_id, created_at) VALUES (?, ?, ?, ?)')
        .run(old.webhook, old.date, personId, old.createdAt);
    }
    ledger = new NoticeLedger(store.database);
    expect(Object.fromEntries(ledger.absenceNotices(SCHOOL, MONDAY))).toEqual({
      away: { state: 'waiting', at: old.createdAt },
      refused: { state: 'waiting', at: old.createdAt },
    });
  });
});
