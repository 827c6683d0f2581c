import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentralClient, CentralState, Outbox, openSqliteStore } from '@educard/cloud-bridge';
import { CentralTestServer } from '@educard/cloud-bridge/testing';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { atLeast, type BenchResult, median } from './report.js';

const DEVICES = 10;
const PER_DEVICE = 5000;
const ROUNDS = 3;

function deviceRecords(device: string): EventRecord[] {
  const start = Date.parse('2026-09-01T07:30:00Z');
  return chainRecords(
    device,
    Array.from({ length: PER_DEVICE }, (_, i) => ({
      type: 'gate.decision',
      at: new Date(start + i * 1000).toISOString(),
      data: gateDecisionData({ personId: `p${i % 800}` }),
    })),
  );
}

/**
 * Drains 50,000 stored events from a real SQLite outbox to the test central system over HTTP, with
 * the default batch size, and counts events per second from the first batch to the last confirmed.
 */
async function drainOnce(runs: EventRecord[][]): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-central-'));
  const store = openSqliteStore(join(dir, 'bridge.db'));
  const central = await CentralTestServer.start();
  try {
    const outbox = new Outbox({
      store,
      state: new CentralState(store.database),
      client: new CentralClient({ url: central.url, token: central.token, timeoutMs: 30_000 }),
      settings: {
        intervalMs: 1000,
        batchSize: 500,
        backoffBaseMs: 100,
        backoffMaxMs: 1000,
        maxAttempts: 5,
        unreachableAlarmMs: 60_000,
      },
      logger: pino({ level: 'silent' }),
    });
    outbox.attach();
    for (const [n, run] of runs.entries())
      for (let i = 0; i < run.length; i += 1000)
        store.commitRecords(`gate-${n}`, 'school-1', run.slice(i, i + 1000));
    const total = DEVICES * PER_DEVICE;
    const started = performance.now();
    while (outbox.status().pending > 0) await outbox.pushOnce();
    const seconds = (performance.now() - started) / 1000;
    if (central.events.length !== total) throw new Error(`central took ${central.events.length} of ${total}`);
    return total / seconds;
  } finally {
    await central.stop();
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function centralPushBench(): Promise<BenchResult[]> {
  const runs = Array.from({ length: DEVICES }, (_, n) => deviceRecords(`gate-${n}`));
  const rates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) rates.push(await drainOnce(runs));
  return [atLeast('central.push.events_per_s', median(rates), 'events/s', 5000)];
}
