import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { Duties, type Duty, LeaseTable } from './index.js';

const logger = pino({ level: 'silent' });
const NAMES = ['central', 'notices', 'alarms', 'ingest/0', 'ingest/1', 'ingest/2'];

let dir: string;
let store: BridgeStore;
let running: Duties[];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'duties-'));
  store = openTestStore(join(dir, 'bridge.db'));
  running = [];
});
afterEach(async () => {
  await Promise.all(running.map((duties) => duties.stop()));
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Who runs each duty now, across the instances: a duty run by two at once fails the test. */
function tracker() {
  const runs = new Map<string, string>();
  const overlaps: string[] = [];
  const duties = (instance: string): Duty[] =>
    NAMES.map((name) => ({
      name,
      start: () => {
        const other = runs.get(name);
        if (other !== undefined) overlaps.push(`${name}: ${instance} started while ${other} ran it`);
        runs.set(name, instance);
      },
      stop: () => {
        if (runs.get(name) === instance) runs.delete(name);
      },
    }));
  return { runs, overlaps, duties };
}

function instance(table: LeaseTable, duties: Duty[], holder: string, ttlMs = 2000): Duties {
  const made = new Duties(table, duties, { holder, group: 'test', ttlMs, renewMs: 150, logger });
  running.push(made);
  void made.start();
  return made;
}

it('a bridge alone on its store runs every duty at once, without a lease', async () => {
  const { runs, duties } = tracker();
  const alone = new Duties(undefined, duties('a'), { holder: 'a', group: 'test', logger });
  await alone.start();
  await expect.poll(() => runs.size).toBe(NAMES.length);
  await alone.stop();
  expect(runs.size).toBe(0);
});

it('shares the duties between instances, hands them over on a stop and never runs one twice', async () => {
  const { runs, overlaps, duties } = tracker();
  const table = new LeaseTable(store.database);
  const a = instance(table, duties('a'), 'a');
  // Alone, the first takes everything in its first round.
  expect(a.holding).toHaveLength(NAMES.length);
  const b = instance(table, duties('b'), 'b');
  await expect.poll(() => [a.holding.length, b.holding.length]).toEqual([3, 3]);
  await expect.poll(() => runs.size).toBe(NAMES.length);

  // A clean stop releases: the other takes the duties without waiting for them to expire.
  await b.stop();
  await expect.poll(() => a.holding.length).toBe(NAMES.length);
  expect(new Set(runs.values())).toEqual(new Set(['a']));

  // A newcomer gets its share back.
  const c = instance(table, duties('c'), 'c');
  await expect.poll(() => [a.holding.length, c.holding.length]).toEqual([3, 3]);
  await a.stop();
  await expect.poll(() => c.holding.length).toBe(NAMES.length);
  expect(overlaps).toEqual([]);
});

it('an instance that cannot renew stops its work before its leases can pass to another', async () => {
  const { runs, overlaps, duties } = tracker();
  let reachable = true;
  const flaky = new LeaseTable(store.database);
  const take = flaky.take.bind(flaky);
  flaky.take = (...args) => {
    if (!reachable) throw new Error('connection refused');
    return take(...args);
  };
  const a = instance(flaky, duties('a'), 'a');
  expect(a.holding).toHaveLength(NAMES.length);
  reachable = false;
  const b = instance(new LeaseTable(store.database), duties('b'), 'b');
  await expect.poll(() => b.holding.length).toBe(NAMES.length);
  expect(a.holding).toEqual([]);
  expect(new Set(runs.values())).toEqual(new Set(['b']));
  expect(overlaps).toEqual([]);
});

it('an instance that is not ready gives its duties to the others until it is again', async () => {
  const { runs, overlaps, duties } = tracker();
  const table = new LeaseTable(store.database);
  let connected = true;
  const a = new Duties(table, duties('a'), {
    holder: 'a',
    group: 'test',
    ttlMs: 2000,
    renewMs: 150,
    logger,
    ready: () => connected,
  });
  running.push(a);
  await a.start();
  const b = instance(table, duties('b'), 'b');
  await expect.poll(() => [a.holding.length, b.holding.length]).toEqual([3, 3]);
  connected = false;
  await expect.poll(() => [a.holding.length, b.holding.length]).toEqual([0, NAMES.length]);
  expect(new Set(runs.values())).toEqual(new Set(['b']));
  connected = true;
  await expect.poll(() => [a.holding.length, b.holding.length]).toEqual([3, 3]);
  expect(overlaps).toEqual([]);
});

it('a killed holder, which never releases, has its duties taken once its leases expire', async () => {
  const { runs, duties } = tracker();
  const table = new LeaseTable(store.database);
  // The holder's leases as a killed process leaves them: unexpired, renewed by no one.
  for (const name of NAMES) table.take(name, 'killed', 700);
  table.take('member/test/killed', 'killed', 700);
  const b = instance(table, duties('b'), 'b');
  expect(b.holding).toEqual([]);
  await expect.poll(() => b.holding.length).toBe(NAMES.length);
  expect(runs.size).toBe(NAMES.length);
});
