import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DenyReason } from '@educard/terminal-sdk';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { Attendance } from '../attendance/index.js';
import { Directory } from '../directory/index.js';
import { libraryRecords } from '../store/conformance.js';
import { type BridgeStore, migrateModule } from '../store/index.js';
import { openTestStore, testStoreBackend } from '../store/test-store.js';
import { NoticesConfig } from './config.js';
import {
  addPassage,
  type Burst,
  type BurstDirection,
  HOLDS_MS,
  hasSettled,
  type Passage,
} from './debounce.js';
import { NoticeLedger, type NoticePeople, REFUSAL_LATE_MS } from './ledger.js';
import { NOTICES_STEPS } from './schema.js';
import { Notices } from './service.js';
import { signatureHeader, verifySignature } from './signature.js';

const T0 = Date.parse('2026-11-23T00:00:00.000Z');
const DEBOUNCE = 120_000;
let eventId = 0;
const tap = (seconds: number, direction: BurstDirection, device = 'gate-1'): Passage => ({
  eventId: ++eventId,
  school: 'school-1',
  personId: 'p1',
  at: new Date(T0 + seconds * 1000).toISOString(),
  direction,
  device,
  ...(direction === 'refused' ? { reason: 'expired' as const } : {}),
});

/** Runs passages through the rule as the ledger does; returns the notices and the state left. */
function run(passages: Passage[], settleAt?: number, debounceMs = DEBOUNCE) {
  let state: Burst | undefined;
  const notices: Burst[] = [];
  let stale = 0;
  for (const passage of passages) {
    const outcome = addPassage(state, passage, debounceMs);
    if (outcome.kind === 'stale') stale++;
    if (outcome.kind === 'settled') notices.push(outcome.settled);
    state = outcome.burst;
  }
  if (settleAt !== undefined && state && hasSettled(state, T0 + settleAt * 1000, debounceMs)) {
    notices.push(state);
    state = { ...state, open: false };
  }
  return {
    notices: notices.map((n) => `${n.direction}@${(Date.parse(n.lastAt) - T0) / 1000}`),
    state,
    stale,
  };
}

describe('the debounce rule', () => {
  it('two taps in a row are one notice, once the burst has been quiet for the window', () => {
    expect(run([tap(0, 'in'), tap(5, 'in')], 124).notices).toEqual([]);
    expect(run([tap(0, 'in'), tap(5, 'in')], 125).notices).toEqual(['in@5']);
  });

  it('in, out and in again within the window is one notice: in', () => {
    expect(run([tap(0, 'in'), tap(30, 'out'), tap(100, 'in')], 220).notices).toEqual(['in@100']);
  });

  it('in then out within the window settles to out: where the pupil is now', () => {
    expect(run([tap(0, 'in'), tap(60, 'out')], 180).notices).toEqual(['out@60']);
  });

  it('passages further apart than the window are a notice each, the first without waiting for the clock', () => {
    const { notices, state } = run([tap(0, 'in'), tap(8 * 3600, 'out')]);
    expect(notices).toEqual(['in@0']);
    expect(state).toMatchObject({ open: true, direction: 'out' });
  });

  it('a late passage inside the open burst joins it without changing where the pupil is', () => {
    const { notices } = run([tap(0, 'in'), tap(90, 'in', 'gate-2'), tap(60, 'out', 'gate-3')], 300);
    expect(notices).toEqual(['in@90']);
  });

  it('a late passage older than what the parent was told is stale and dropped', () => {
    const told = run([tap(3600, 'in')], 4000);
    expect(told.notices).toEqual(['in@3600']);
    const late = addPassage(told.state, tap(1800, 'out'), DEBOUNCE);
    expect(late.kind).toBe('stale');
    // Later than the notice, even within the window: a new burst (the parent's picture changed).
    expect(addPassage(told.state, tap(3700, 'out'), DEBOUNCE).kind).toBe('opened');
    const open = run([tap(7200, 'in'), tap(100, 'out')]);
    expect(open.stale).toBe(1);
  });

  it('a window of 0 notifies every passage', () => {
    expect(run([tap(0, 'in'), tap(1, 'out'), tap(2, 'in')], 2, 0).notices).toEqual(['in@0', 'out@1', 'in@2']);
  });
});

describe('the debounce rule with refusals', () => {
  const hours = (h: number) => h * 3600;

  it('a pupil out at lunch and refused coming back is told refused, with the reason', () => {
    const { notices, state } = run(
      [tap(0, 'in'), tap(hours(4), 'out'), tap(hours(4.5), 'refused')],
      hours(4.6),
    );
    expect(notices).toEqual(['in@0', 'out@14400', 'refused@16200']);
    expect(state).toMatchObject({ direction: 'refused', reason: 'expired', open: false });
  });

  it('refused and let in within the window is one notice: in, without the reason', () => {
    const { notices, state } = run([tap(0, 'refused'), tap(40, 'in')], 200);
    expect(notices).toEqual(['in@40']);
    expect(state).not.toHaveProperty('reason');
  });

  it('refused, then out of the window, is refused: let in later is a notice of its own', () => {
    expect(run([tap(0, 'refused'), tap(600, 'in')], 800).notices).toEqual(['refused@0', 'in@600']);
  });

  it('a refusal of a pupil inside tells nothing, open burst or told, until the entry is half a day old', () => {
    expect(run([tap(0, 'in'), tap(30, 'refused')], 200).notices).toEqual(['in@0']);
    const inside = run([tap(0, 'in')], 200);
    expect(addPassage(inside.state, tap(hours(5), 'refused'), DEBOUNCE).kind).toBe('unchanged');
    const nextMorning = addPassage(inside.state, tap(HOLDS_MS / 1000, 'refused'), DEBOUNCE);
    expect(nextMorning.kind).toBe('opened');
  });

  it('a pupil refused again is not told again the same day', () => {
    const { notices, state } = run([tap(0, 'refused'), tap(30, 'refused'), tap(600, 'refused')], 800);
    expect(notices).toEqual(['refused@0']);
    expect(addPassage(state, tap(HOLDS_MS / 1000 + 1, 'refused'), DEBOUNCE).kind).toBe('opened');
  });

  it('a refusal older than the notice the parent has is stale', () => {
    const told = run([tap(0, 'out'), tap(3600, 'in')], 4000);
    expect(addPassage(told.state, tap(1800, 'refused'), DEBOUNCE).kind).toBe('stale');
  });
});

describe('the signature', () => {
  const secret = 's'.repeat(32);
  const body = '{"deliveryId":"d1","notices":[]}';
  const now = 1_795_000_000;
  it('verifies what was signed, within the tolerance', () => {
    const header = signatureHeader(secret, body, now);
    expect(header).toMatch(/^t=1795000000,v1=[0-9a-f]{64}$/);
    expect(verifySignature(header, body, secret, { nowSeconds: now + 299 })).toEqual({ ok: true, t: now });
  });

  it('refuses a changed body, another secret, an old time, a malformed or missing header', () => {
    const header = signatureHeader(secret, body, now);
    const check = (h: string | undefined, b = body, s = secret, at = now) =>
      verifySignature(h, b, s, { nowSeconds: at });
    expect(check(header, body.replace('d1', 'd2'))).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(check(header, body, 'x'.repeat(32))).toEqual({ ok: false, reason: 'signature mismatch' });
    expect(check(header, body, secret, now + 301)).toEqual({ ok: false, reason: 'signature too old' });
    // A replay with a fresh t but the old MAC.
    expect(check(header.replace(`t=${now}`, `t=${now + 100}`), body, secret, now + 100).ok).toBe(false);
    expect(check('v1=abc')).toEqual({ ok: false, reason: 'malformed signature' });
    expect(check(undefined)).toEqual({ ok: false, reason: 'no signature' });
  });
});

describe('the notices config', () => {
  it('asks for a long secret and an http(s) URL; fills in the defaults', () => {
    const hook = { url: 'https://sms.example.cn/hook', secret: 'k'.repeat(32) };
    expect(NoticesConfig.parse({ webhooks: [hook] }).webhooks[0]).toMatchObject({
      debounceMs: 120_000,
      batchWindowMs: 2000,
      batchMax: 100,
      maxAttempts: 10,
    });
    expect(NoticesConfig.safeParse({ webhooks: [{ ...hook, secret: 'short' }] }).success).toBe(false);
    expect(NoticesConfig.safeParse({ webhooks: [{ ...hook, url: 'ftp://x/y' }] }).success).toBe(false);
    expect(NoticesConfig.safeParse({ webhooks: [hook, hook] }).success).toBe(false);
  });
});

/** A store with the gate tables and a notices ledger, in a directory of its own removed after `use`. */
async function withLedger(use: (store: BridgeStore, ledger: NoticeLedger) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'notices-'));
  const store = openTestStore(join(dir, 'bridge.db'));
  try {
    new Attendance({ store, directory: new Directory(store.database), defaultTimeZone: 'Asia/Shanghai' });
    use(store, new NoticeLedger(store.database));
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();

/** A pupil (or a teacher) refused entry at a gate, `seconds` after T0. */
const refused = (
  personId: string,
  seconds: number,
  reason: DenyReason,
  role: 'student' | 'teacher' = 'student',
) =>
  ['gate.decision', at(seconds), gateDecisionData({ personId, decision: 'deny', reason, role })] as [
    string,
    string,
    Record<string, unknown>,
  ];

/** Pupils who never changed school, named by their ids. */
const people: NoticePeople = {
  schoolOf: (_person, _at, gateSchool) => gateSchool,
  describe: (burst) => ({ school: burst.school, personId: burst.personId, name: burst.personId }),
};

describe('the ledger', () => {
  it('batches settled notices up to batchMax, of pupils only, and resumes after reopening', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'notices-'));
    try {
      const path = join(dir, 'bridge.db');
      let store = openTestStore(path);
      const directory = new Directory(store.database);
      new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai' });
      const hook = { key: 'h1', debounceMs: 1000, batchWindowMs: 500, batchMax: 2 };
      let ledger = new NoticeLedger(store.database);
      ledger.register(hook.key);
      const taps: [string, string, Record<string, unknown>][] = ['a', 'b', 'c', 'd', 'e'].map(
        (personId, i) => ['gate.decision', at(i), gateDecisionData({ personId })],
      );
      taps.push(['gate.decision', at(6), gateDecisionData({ personId: 't', role: 'teacher' })]);
      store.commitRecords('gate-1', 'school-1', libraryRecords('gate-1', taps));
      // Nothing has settled yet at +4.5 s (e settles at +5 s).
      expect(ledger.advance(hook, T0 + 4500, people, store.settledEventId())).toMatchObject({
        read: 6,
        notices: 4,
        deliveries: 2,
      });
      store.close();
      store = openTestStore(path);
      ledger = new NoticeLedger(store.database);
      ledger.register(hook.key);
      expect(ledger.advance(hook, T0 + 5000, people, store.settledEventId())).toMatchObject({
        read: 0,
        notices: 1,
        deliveries: 0,
      });
      expect(ledger.advance(hook, T0 + 5500, people, store.settledEventId())).toMatchObject({
        notices: 0,
        deliveries: 1,
      });
      const bodies: string[] = [];
      for (let next = ledger.nextDelivery('h1'); next; next = ledger.nextDelivery('h1')) {
        bodies.push(next.body);
        ledger.delivered('h1', next.seq, T0 + 6000);
      }
      const notified = bodies.map((b) =>
        (JSON.parse(b) as { notices: { personId: string }[] }).notices.map((n) => n.personId),
      );
      expect(notified).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
      expect(ledger.status('h1')).toMatchObject({ pending: 0, failed: 0, delivered: 5 });
      store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tells refused entries to a webhook that asks for them: never a lockdown, never one read late', async () => {
    await withLedger((store, ledger) => {
      const refusals = { key: 'refusals', refusals: true, debounceMs: 1000, batchWindowMs: 0, batchMax: 100 };
      const passagesOnly = { ...refusals, key: 'passages', refusals: false };
      for (const hook of [refusals, passagesOnly]) ledger.register(hook.key);
      store.commitRecords(
        'gate-1',
        'school-1',
        libraryRecords('gate-1', [
          refused('late', -REFUSAL_LATE_MS / 1000 - 1, 'expired'),
          refused('a', 0, 'expired'),
          refused('b', 0, 'lockdown'),
          refused('t', 0, 'expired', 'teacher'),
          ['gate.decision', at(0), gateDecisionData({ personId: 'c', direction: 'out', decision: 'deny' })],
          refused('d', 0, 'suspended'),
          ['gate.decision', at(0.5), gateDecisionData({ personId: 'd' })],
        ]),
      );
      const through = store.settledEventId();
      expect(ledger.advance(refusals, T0 + 900, people, through)).toMatchObject({
        untold: { late: 1, lockdown: 1 },
        notices: 0,
      });
      expect(ledger.advance(refusals, T0 + 1500, people, through)).toMatchObject({
        notices: 2,
        deliveries: 1,
      });
      expect(ledger.advance(passagesOnly, T0 + 1500, people, through)).toMatchObject({
        untold: { late: 0, lockdown: 0 },
        notices: 1,
        deliveries: 1,
      });
      const told = (key: string) =>
        (JSON.parse(ledger.nextDelivery(key)?.body ?? '{}') as { notices: Record<string, unknown>[] })
          .notices;
      expect(told('refusals')).toEqual([
        {
          id: expect.stringMatching(/^r\d+$/),
          kind: 'refused',
          school: 'school-1',
          personId: 'a',
          name: 'a',
          at: at(0),
          device: 'gate-1',
          reason: 'expired',
        },
        {
          id: expect.stringMatching(/^n\d+$/),
          school: 'school-1',
          personId: 'd',
          name: 'd',
          direction: 'in',
          at: at(0.5),
          device: 'gate-1',
        },
      ]);
      expect(told('passages').map((notice) => notice.personId)).toEqual(['d']);
    });
  });

  it('starts a new webhook after every gate row stored, the refusals after the last passage too', async () => {
    await withLedger((store, ledger) => {
      store.commitRecords(
        'gate-1',
        'school-1',
        libraryRecords('gate-1', [
          ['gate.decision', at(0), gateDecisionData({ personId: 'a' })],
          refused('b', 0.5, 'expired'),
        ]),
      );
      const hook = { key: 'new', refusals: true, debounceMs: 0, batchWindowMs: 0, batchMax: 100 };
      ledger.register(hook.key);
      expect(ledger.advance(hook, T0 + 1000, people, store.settledEventId())).toMatchObject({
        read: 0,
        notices: 0,
      });
    });
  });

  it('tells the register what the parents were told of each refusal: the furthest any webhook got', async () => {
    await withLedger((store, ledger) => {
      const school = { key: 'school', refusals: true, debounceMs: 0, batchWindowMs: 0, batchMax: 100 };
      const district = { ...school, key: 'district' };
      for (const hook of [school, district]) ledger.register(hook.key);
      store.commitRecords(
        'gate-1',
        'school-1',
        libraryRecords('gate-1', [
          refused('a', 0, 'expired'),
          refused('a', 0.5, 'expired'),
          refused('b', 0, 'lockdown'),
          refused('c', 0.5, 'suspended'),
        ]),
      );
      for (const hook of [school, district]) ledger.advance(hook, T0 + 1000, people, store.settledEventId());
      const day = { from: at(-3600), to: at(3600) };
      const waiting = { state: 'waiting', at: at(1) };
      // Refused again, `a` was not told again; a lockdown's refusal is never told.
      expect(Object.fromEntries(ledger.refusalNotices('school-1', day))).toEqual({
        a: [{ ...waiting, refusedAt: at(0) }],
        c: [{ ...waiting, refusedAt: at(0.5) }],
      });
      ledger.givenUp('district', ledger.nextDelivery('district')?.seq ?? 0, 'HTTP 400', T0 + 2000);
      expect(ledger.refusalNotices('school-1', day).get('a')).toEqual([{ ...waiting, refusedAt: at(0) }]);
      ledger.delivered('school', ledger.nextDelivery('school')?.seq ?? 0, T0 + 3000);
      expect(ledger.refusalNotices('school-1', day).get('a')).toEqual([
        { state: 'delivered', at: at(3), refusedAt: at(0) },
      ]);
      expect(ledger.refusalNotices('school-1', { from: at(0.25), to: at(3600) }).has('a')).toBe(false);
      expect(ledger.refusalNotices('school-2', day).size).toBe(0);
    });
  });

  it('matches the refusal notices queued before the upgrade to their pupils', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'notices-'));
    const store = openTestStore(join(dir, 'bridge.db'));
    try {
      new Attendance({ store, directory: new Directory(store.database), defaultTimeZone: 'Asia/Shanghai' });
      migrateModule(store.database, 'notices', {
        sqlite: NOTICES_STEPS.sqlite.slice(0, 4),
        postgres: NOTICES_STEPS.postgres.slice(0, 4),
      });
      const queue = store.database.prepare(
        'INSERT INTO notice_queue (webhook, notice, created_at) VALUES (?, ?, ?)',
      );
      const notice = { school: 'school-1', personId: 'a', at: at(0), device: 'gate-1' };
      queue.run('h', JSON.stringify({ id: 'r1', kind: 'refused', ...notice, reason: 'expired' }), at(1));
      queue.run('h', JSON.stringify({ id: 'n2', ...notice, personId: 'b', direction: 'out' }), at(1));
      const ledger = new NoticeLedger(store.database);
      expect(Object.fromEntries(ledger.refusalNotices('school-1', { from: at(-1), to: at(1) }))).toEqual({
        a: [{ state: 'waiting', at: at(1), refusedAt: at(0) }],
      });
    } finally {
      store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads once for the webhooks of a round at one cursor, afresh for one at another', async () => {
    await withLedger((store, ledger) => {
      const hook = (key: string, school: string) => ({
        key,
        school,
        debounceMs: 0,
        batchWindowMs: 0,
        batchMax: 100,
      });
      const [first, second, late] = [
        hook('first', 'school-1'),
        hook('second', 'school-2'),
        hook('late', 'school-2'),
      ];
      const tap = (personId: string, school: string) =>
        store.commitRecords(
          `gate-${school}`,
          school,
          libraryRecords(
            `gate-${school}`,
            [['gate.decision', new Date(T0).toISOString(), gateDecisionData({ personId })]],
            store.cursor(`gate-${school}`),
          ),
        );
      ledger.register(first.key);
      ledger.register(second.key);
      tap('a', 'school-1');
      tap('b', 'school-2');
      ledger.register(late.key);
      tap('c', 'school-1');
      tap('d', 'school-2');
      const through = store.settledEventId();
      const read = ledger.roundReader();
      for (const each of [first, late, second]) ledger.advance(each, T0 + 1000, people, through, read);
      const told = (key: string) =>
        (
          JSON.parse(ledger.nextDelivery(key)?.body ?? '{"notices":[]}') as {
            notices: { personId: string }[];
          }
        ).notices.map((notice) => notice.personId);
      expect([told('first'), told('second'), told('late')]).toEqual([['a', 'c'], ['b', 'd'], ['d']]);
    });
  });
});

describe('a round of every webhook', () => {
  it('is one transaction in which a webhook whose step fails is undone alone, and catches up after', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'notices-'));
    const store = openTestStore(join(dir, 'bridge.db'));
    const lines: { msg: string; webhook?: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const directory = new Directory(store.database);
    new Attendance({ store, directory, defaultTimeZone: 'Asia/Shanghai' });
    const webhook = (school: string) => ({
      school,
      url: `http://127.0.0.1:9/${school}`,
      secret: 'round-secret-0123456789abcdef0123456789',
      debounceMs: 0,
      batchWindowMs: 60_000,
    });
    let now = T0;
    const notices = new Notices({
      store,
      directory,
      config: NoticesConfig.parse({ webhooks: [webhook('school-1'), webhook('school-2')] }),
      logger,
      now: () => now,
    });
    try {
      const [one, two] = notices.status().map((hook) => hook.key);
      for (const [personId, school] of [
        ['a', 'school-1'],
        ['b', 'school-2'],
      ] as const)
        store.commitRecords(
          `gate-${school}`,
          school,
          libraryRecords(`gate-${school}`, [
            ['gate.decision', new Date(T0).toISOString(), gateDecisionData({ personId })],
          ]),
        );
      // The second webhook's bursts cannot be written, as on a damaged table.
      store.database.exec(
        testStoreBackend() === 'postgres'
          ? `CREATE FUNCTION refuse_burst() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'burst refused'; END $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse_burst BEFORE INSERT ON notice_bursts FOR EACH ROW WHEN (NEW.webhook = '${two}') EXECUTE FUNCTION refuse_burst();`
          : `CREATE TRIGGER refuse_burst BEFORE INSERT ON notice_bursts WHEN NEW.webhook = '${two}'
             BEGIN SELECT RAISE(ABORT, 'burst refused'); END;`,
      );
      now += 1000;
      notices.tick();
      expect(lines.map((line) => [line.msg, line.webhook])).toEqual([['parent notices: step failed', two]]);
      expect(notices.status().map((hook) => [hook.key, hook.pending])).toEqual([
        [one, 1],
        [two, 0],
      ]);
      store.database.exec(
        testStoreBackend() === 'postgres'
          ? 'DROP TRIGGER refuse_burst ON notice_bursts'
          : 'DROP TRIGGER refuse_burst',
      );
      now += 1000;
      notices.tick();
      expect(notices.status().map((hook) => [hook.key, hook.pending])).toEqual([
        [one, 1],
        [two, 1],
      ]);
      // A round on a clock that has not moved reads what was committed since the last, though both
      // webhooks stand where they stood.
      notices.tick();
      store.commitRecords(
        'gate-school-1',
        'school-1',
        libraryRecords(
          'gate-school-1',
          [['gate.decision', new Date(T0).toISOString(), gateDecisionData({ personId: 'c' })]],
          store.cursor('gate-school-1'),
        ),
      );
      notices.tick();
      expect(notices.status().map((hook) => [hook.key, hook.pending])).toEqual([
        [one, 2],
        [two, 1],
      ]);
    } finally {
      await notices.stop();
      store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
