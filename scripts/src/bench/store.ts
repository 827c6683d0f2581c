import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BridgeStore, openPostgresStore, openSqliteStore } from '@educard/cloud-bridge';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { startPostgres } from '../support/index.js';
import { type BenchResult, info, median, percentile } from './report.js';

const BATCH = 200;
const DEVICES = 20;
const BATCHES_PER_DEVICE = 20;

/** Each device's records in batches of 200, made before the clock starts, interleaved as batches from many gateways arrive. */
function batches(): { device: string; records: EventRecord[] }[] {
  const start = Date.now();
  const chains = Array.from({ length: DEVICES }, (_, d) => {
    const device = `gate-${String(d).padStart(3, '0')}`;
    const bodies = Array.from({ length: BATCH * BATCHES_PER_DEVICE }, (_, i) => ({
      type: 'gate.decision',
      at: new Date(start + i * 1000).toISOString(),
      data: { ...gateDecisionData({ personId: `p${(d * 7919 + i) % 5000}` }) },
    }));
    return { device, records: chainRecords(device, bodies) };
  });
  const out: { device: string; records: EventRecord[] }[] = [];
  for (let b = 0; b < BATCHES_PER_DEVICE; b++)
    for (const { device, records } of chains)
      out.push({ device, records: records.slice(b * BATCH, (b + 1) * BATCH) });
  return out;
}

/** Commits every batch, one transaction each; the rate over the whole run and each batch's time. */
function commitAll(store: BridgeStore, work: { device: string; records: EventRecord[] }[]) {
  const times: number[] = [];
  const began = performance.now();
  let stored = 0;
  for (const { device, records } of work) {
    const t = performance.now();
    stored += store.commitRecords(device, 'school-1', records).inserted;
    times.push(performance.now() - t);
  }
  const seconds = (performance.now() - began) / 1000;
  if (stored !== DEVICES * BATCHES_PER_DEVICE * BATCH) throw new Error(`stored ${stored} events, not all`);
  return { eventsPerS: stored / seconds, p99BatchMs: percentile(times, 99), medianBatchMs: median(times) };
}

/**
 * `store.pg.commit.events_per_s`: the PostgreSQL store alone (a local server, fsync on, unix socket),
 * 20 devices' batches of 200 interleaved, one commit each; SQLite's figure on the same work beside it.
 */
export async function storeBench(): Promise<BenchResult[]> {
  const postgres = await startPostgres();
  const dir = await mkdtemp(join(tmpdir(), 'bench-store-'));
  try {
    const work = batches();
    const pg = openPostgresStore(postgres.createSchema('bench_commit'));
    const onPg = commitAll(pg, work);
    pg.close();
    const sqlite = openSqliteStore(join(dir, 'bridge.db'));
    const onSqlite = commitAll(sqlite, work);
    sqlite.close();

    return [
      info('store.pg.commit.events_per_s', onPg.eventsPerS, 'events/s'),
      info('store.pg.commit.batch_p99_ms', onPg.p99BatchMs, 'ms'),
      info('store.pg.commit.batch_median_ms', onPg.medianBatchMs, 'ms'),
      info('store.sqlite.commit.events_per_s', onSqlite.eventsPerS, 'events/s'),
    ];
  } finally {
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
