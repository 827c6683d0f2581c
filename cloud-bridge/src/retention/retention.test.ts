import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../accounts/index.js';
import { CentralClient, CentralState, Outbox } from '../central/index.js';
import { CentralTestServer } from '../central/testing.js';
import { LoanLedger } from '../library/index.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import {
  type CentralAcks,
  Retention,
  RetentionConfig,
  type RetentionConfigInput,
  retentionDays,
} from './index.js';

/** The test's clock: every date below is derived from it. */
const NOW = new Date('2027-03-15T04:00:00.000Z');
const daysAgo = (days: number) => new Date(NOW.getTime() - days * 86_400_000).toISOString();
const logger = pino({ level: 'silent' });

let dir: string;
let store: BridgeStore;
let ledger: LoanLedger;
let audit: AuditLog;
let central: CentralTestServer | undefined;
const chains = new Map<string, { seq: number; hash: string }>();

/** Events of one device, chained on from what it sent before, committed as ingest would. */
function commit(
  device: string,
  school: string,
  events: [type: string, at: string, data?: Record<string, unknown>][],
) {
  const records = chainRecords(
    device,
    events.map(([type, at, data]) => ({
      type,
      at,
      data: { personId: 'p-1', station: 'desk-1', source: 'local', ...data },
    })),
    chains.get(device),
  );
  const last = records.at(-1);
  if (last) chains.set(device, { seq: last.seq, hash: last.hash });
  store.commitRecords(device, school, records);
}

function retention(config: RetentionConfigInput = {}, centralAcks: CentralAcks = 'off'): Retention {
  return new Retention({
    db: store.database,
    config: RetentionConfig.parse({ batchSize: 10, purgeShare: 1, ...config }),
    central: centralAcks,
    audit,
    logger,
    now: () => NOW,
  });
}

const types = () =>
  store
    .queryEvents({ limit: 10_000 })
    .map((e) => `${e.record.type}@${Math.round((NOW.getTime() - Date.parse(e.record.at)) / 86_400_000)}`);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'retention-'));
  store = openTestStore(join(dir, 'bridge.db'));
  ledger = new LoanLedger(store);
  audit = new AuditLog(store.database, logger, () => NOW);
  chains.clear();
});
afterEach(async () => {
  store.close();
  await central?.stop();
  central = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('retention rules', () => {
  it('takes a school rule over the district’s, an exact type over its family, the defaults last', () => {
    const config = RetentionConfig.parse({
      days: { 'lab.*': 30, 'gate.decision': null },
      schools: { 'school-2': { 'lab.signin': 7 } },
    });
    expect(retentionDays(config, 'school-1', 'gate.decision')).toBeNull();
    expect(retentionDays(config, 'school-1', 'lab.signin')).toBe(30);
    expect(retentionDays(config, 'school-2', 'lab.signin')).toBe(7);
    expect(retentionDays(config, 'school-2', 'lab.signout')).toBe(30);
    expect(retentionDays(config, 'school-1', 'door.forced')).toBe(365);
    expect(retentionDays(config, 'school-1', 'something.new')).toBe(365);
  });

  it('refuses a rule that names no type and a negative number of days', () => {
    expect(RetentionConfig.safeParse({ days: { 'gate.': 10 } }).success).toBe(false);
    expect(RetentionConfig.safeParse({ days: { 'gate.decision': -1 } }).success).toBe(false);
  });
});

describe('the purge', () => {
  it('removes events past their rule in batches, keeps the rest, and audits each school and type', async () => {
    commit('gate-1', 'school-1', [
      ...Array.from({ length: 25 }, (): [string, string] => ['gate.decision', daysAgo(200)]),
      ['gate.decision', daysAgo(179)],
      ['lab.signin', daysAgo(100)],
      ['lab.signin', daysAgo(80)],
      ['door.forced', daysAgo(300)],
    ]);
    commit('gate-2', 'school-2', [['gate.decision', daysAgo(200)]]);
    const config = { schools: { 'school-2': { 'gate.decision': 365 } } };
    const report = await retention(config).runOnce();
    expect(types()).toEqual(['gate.decision@179', 'lab.signin@80', 'door.forced@300', 'gate.decision@200']);
    expect(report.purged).toEqual([
      { school: 'school-1', type: 'gate.decision', count: 25, upTo: daysAgo(180) },
      { school: 'school-1', type: 'lab.signin', count: 1, upTo: daysAgo(90) },
    ]);
    const entries = audit.query({ action: 'retention.purge', limit: 10 });
    expect(entries.map((e) => [e.school, e.target, e.detail])).toEqual([
      ['school-1', 'lab.signin', { events: 1, upTo: daysAgo(90) }],
      ['school-1', 'gate.decision', { events: 25, upTo: daysAgo(180) }],
    ]);
    expect(entries[0]).toMatchObject({ actor: 'bridge', outcome: 'ok', at: NOW.toISOString() });
    // Nothing more to do: a second run removes nothing and audits nothing.
    expect((await retention(config).runOnce()).purged).toEqual([]);
    expect(audit.query({ action: 'retention.purge', limit: 10 })).toHaveLength(2);
  });

  it('removes a batch of many events in several statements, the last one short, and keeps what is between them', async () => {
    // 250 gate passages past their rule and, among them, 5 alarms within theirs: one batch of 255 rows.
    commit(
      'gate-1',
      'school-1',
      Array.from({ length: 255 }, (_, i): [string, string] => [
        i % 51 === 50 ? 'door.forced' : 'gate.decision',
        daysAgo(300 - i / 1000),
      ]),
    );
    const report = await retention({ batchSize: 1000 }).runOnce();
    expect(report.removed).toBe(250);
    expect(types()).toEqual(Array.from({ length: 5 }, () => 'door.forced@300'));
  });

  it('purges every school that has events, whatever their names sort as', async () => {
    for (const [device, school] of [
      ['gate-a', 'Ω-school'],
      ['gate-b', 'school-1'],
      ['gate-c', '0-school'],
      ['gate-d', 'school-10'],
    ] as const)
      commit(device, school, [
        ['gate.decision', daysAgo(200)],
        ['gate.decision', daysAgo(10)],
      ]);
    const report = await retention().runOnce();
    expect(report.purged.map((p) => [p.school, p.count])).toEqual([
      ['0-school', 1],
      ['school-1', 1],
      ['school-10', 1],
      ['Ω-school', 1],
    ]);
    expect(types()).toEqual(Array.from({ length: 4 }, () => 'gate.decision@10'));
  });

  it('stops at once when stopped between batches, not after its pacing wait', async () => {
    commit(
      'gate-1',
      'school-1',
      Array.from({ length: 1010 }, (_, i): [string, string] => ['gate.decision', daysAgo(300 - i / 10_000)]),
    );
    // 1,000 events at 100 a second: a wait of 10 s after the first batch.
    const purge = retention({ batchSize: 1000, purgeRate: 100 });
    const run = purge.runOnce();
    await vi.waitFor(() => expect(store.countEvents()).toBe(10));
    const stopped = purge.stop().then(() => 'stopped');
    expect(await Promise.race([stopped, sleep(5000).then(() => 'still waiting')])).toBe('stopped');
    expect((await run).removed).toBe(1000);
    expect(store.countEvents()).toBe(10);
  });

  it('keeps an event the central system has not acknowledged, whatever its age, and removes it once acknowledged', async () => {
    central = await CentralTestServer.start();
    const outbox = new Outbox({
      store,
      state: new CentralState(store.database),
      client: new CentralClient({ url: central.url, token: central.token, timeoutMs: 2000 }),
      settings: {
        intervalMs: 1000,
        batchSize: 3,
        backoffBaseMs: 100,
        backoffMaxMs: 1000,
        maxAttempts: 2,
        unreachableAlarmMs: 60_000,
      },
      logger,
    });
    outbox.attach();
    commit(
      'gate-1',
      'school-1',
      Array.from({ length: 5 }, (): [string, string] => ['gate.decision', daysAgo(400)]),
    );
    await outbox.pushOnce(); // the central system takes the first three
    const first = await retention({}, 'api').runOnce();
    expect(first.purged).toEqual([
      { school: 'school-1', type: 'gate.decision', count: 3, upTo: daysAgo(180) },
    ]);
    expect(first.heldUnacknowledged).toBe(2);
    expect(store.queryEvents({ limit: 10 }).map((e) => e.record.seq)).toEqual([4, 5]);

    await outbox.pushOnce();
    const second = await retention({}, 'api').runOnce();
    expect(second).toMatchObject({ heldUnacknowledged: 0, purged: [{ count: 2 }] });
    expect(store.countEvents()).toBe(0);
  });

  it('keeps events the file exchange has not exported yet', async () => {
    commit('gate-1', 'school-1', [
      ['gate.decision', daysAgo(400)],
      ['gate.decision', daysAgo(400)],
    ]);
    const state = new CentralState(store.database);
    const [firstId] = store.queryEvents({ limit: 1 }).map((e) => e.id);
    state.set('files.exportedThrough', firstId);
    const report = await retention({}, 'file').runOnce();
    expect(report).toMatchObject({ heldUnacknowledged: 1, purged: [{ count: 1 }] });
  });

  it('keeps the events of a loan that is open or closed within the rule, and the loan ledger itself', async () => {
    const loan = (loanId: string, itemId: string) => ({
      loanId,
      itemId,
      personId: 'p-1',
      dueAt: daysAgo(380),
    });
    commit('desk-1', 'school-1', [
      ['library.checkout', daysAgo(800), loan('L1', 'B1')],
      ['library.return', daysAgo(700), loan('L1', 'B1')],
      ['library.checkout', daysAgo(800), loan('L2', 'B2')],
      ['library.checkout', daysAgo(500), loan('L3', 'B3')],
      ['library.return', daysAgo(30), loan('L3', 'B3')],
    ]);
    const report = await retention().runOnce();
    expect(report.purged).toEqual([
      { school: 'school-1', type: 'library.checkout', count: 1, upTo: daysAgo(365) },
      { school: 'school-1', type: 'library.return', count: 1, upTo: daysAgo(365) },
    ]);
    expect(report.heldOpenLoans).toBe(2);
    expect(
      ledger
        .loans('school-1', { limit: 10 })
        .map((l) => l.loanId)
        .sort(),
    ).toEqual(['L1', 'L2', 'L3']);
  });

  it('keeps the gate passages attendance is counted from', async () => {
    commit('gate-1', 'school-1', [['gate.decision', daysAgo(200), { decision: 'grant', direction: 'in' }]]);
    const { Attendance } = await import('../attendance/index.js');
    const { Directory } = await import('../directory/index.js');
    new Attendance({ store, directory: new Directory(store.database), defaultTimeZone: 'Asia/Shanghai' });
    await retention().runOnce();
    expect(store.countEvents()).toBe(0);
    const passages = store.database.prepare('SELECT count(*) AS n FROM gate_passages').get() as { n: number };
    expect(passages.n).toBe(1);
  });

  it('forgets cleared alarms past alarmDays (a year unless set; null keeps them) and spent tokens', async () => {
    const asked: string[] = [];
    const run = (config: RetentionConfigInput) =>
      new Retention({
        db: store.database,
        config: RetentionConfig.parse(config),
        central: 'off',
        audit,
        logger,
        now: () => NOW,
        // Each says it forgot a different number, so the report shows which step counted what.
        forgetAlarms: (before) => {
          asked.push(`alarms before ${before.toISOString()}`);
          return 1;
        },
        forgetTokens: (now) => {
          asked.push(`tokens at ${now.toISOString()}`);
          return 2;
        },
      }).runOnce();
    expect(await run({})).toMatchObject({ alarmsForgotten: 1, tokensForgotten: 2 });
    await run({ alarmDays: 30 });
    await run({ alarmDays: null });
    expect(asked).toEqual([
      `alarms before ${daysAgo(365)}`,
      `tokens at ${NOW.toISOString()}`,
      `alarms before ${daysAgo(30)}`,
      `tokens at ${NOW.toISOString()}`,
      `tokens at ${NOW.toISOString()}`,
    ]);
  });
});
