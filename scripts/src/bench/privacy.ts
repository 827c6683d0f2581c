import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { openSqliteStore, Retention, RetentionConfig, type SqliteBridgeStore } from '@educard/cloud-bridge';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { atLeast, type BenchResult, info } from './report.js';

/** The bench's own clock: every event time is derived from it. */
const NOW = Date.parse('2027-03-15T04:00:00.000Z');
const DAY = 86_400_000;
const STORED = 1_000_000;
const DEVICES = 20;
const COMMIT = 500;
const INGEST_BATCH = 100;
const BASELINE_MS = 8000;

/**
 * A device's gate passages from its `from`-th on, chained to what it sent before: the first third of
 * each device's past the 180-day rule, the rest recent.
 */
function passages(device: string, from: number, count: number, chain: { seq: number; hash: string }) {
  const perDevice = STORED / DEVICES;
  return chainRecords(
    device,
    Array.from({ length: count }, (_, n) => {
      const i = from + n;
      return {
        type: 'gate.decision',
        at: new Date(
          i < perDevice / 3 ? NOW - 400 * DAY + i * 1000 : NOW - 30 * DAY + i * 1000,
        ).toISOString(),
        data: gateDecisionData({ personId: `p${i % 2000}` }),
      };
    }),
    chain,
  );
}

/** Ingest at full rate: batches of fresh records committed one after another, the loop free between them. */
class IngestLoad {
  committed = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(store: SqliteBridgeStore, device: string) {
    let chain = store.cursor(device);
    this.done = (async () => {
      while (!this.stopped) {
        const records = chainRecords(
          device,
          Array.from({ length: INGEST_BATCH }, (_, i) => ({
            type: 'gate.decision',
            at: new Date(NOW - 60_000 + i).toISOString(),
            data: gateDecisionData({ personId: `p${i}` }),
          })),
          chain,
        );
        store.commitRecords(device, 'school-1', records);
        const last = records.at(-1) as EventRecord;
        chain = { seq: last.seq, hash: last.hash };
        this.committed += records.length;
        await yieldToLoop();
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

async function ingestRate(store: SqliteBridgeStore, device: string, during: () => Promise<unknown>) {
  const load = new IngestLoad(store, device);
  const started = performance.now();
  await during();
  const seconds = (performance.now() - started) / 1000;
  await load.stop();
  return { rate: load.committed / seconds, seconds };
}

/**
 * 1,000,000 stored gate passages, a third past the 180-day rule, purged with the default settings
 * while ingest commits at its full rate in the same process (one SQLite connection, one event loop:
 * the purge's pacing is what leaves ingest its rate). Ingest is measured alone first, then during the
 * purge; the purge rate is the events it removed over its whole run.
 */
export async function privacyBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-privacy-'));
  const store = openSqliteStore(join(dir, 'bridge.db'));
  try {
    // As a district's gates send them: every device's events of a time stored before the next time's.
    for (let i = 0; i < STORED / DEVICES; i += COMMIT)
      for (let d = 0; d < DEVICES; d++) {
        const device = `gate-${d}`;
        store.commitRecords(device, 'school-1', passages(device, i, COMMIT, store.cursor(device)));
      }
    const idle = () => new Promise((resolve) => setTimeout(resolve, BASELINE_MS));
    const before = await ingestRate(store, 'ingest-a', idle);
    const retention = new Retention({
      db: store.database,
      config: RetentionConfig.parse({}),
      central: 'off',
      audit: { record: () => undefined },
      logger: pino({ level: 'silent' }),
      now: () => new Date(NOW),
    });
    let purged = 0;
    let purgeSeconds = 0;
    const during = await ingestRate(store, 'ingest-b', async () => {
      const started = performance.now();
      const report = await retention.runOnce();
      purgeSeconds = (performance.now() - started) / 1000;
      purged = report.removed;
    });
    // Ingest alone before and after the purge: the machine's load may change meanwhile.
    const after = await ingestRate(store, 'ingest-c', idle);
    const alone = { rate: (before.rate + after.rate) / 2 };
    const expected = Math.floor(STORED / DEVICES / 3) * DEVICES + DEVICES;
    if (Math.abs(purged - expected) > DEVICES)
      throw new Error(`the purge removed ${purged} events, not the ${expected} past the rule`);
    return [
      atLeast('bridge.retention.purge_events_per_s', purged / purgeSeconds, 'events/s', 5000),
      info('bridge.retention.ingest_alone_per_s', alone.rate, 'events/s'),
      info('bridge.retention.ingest_during_purge_per_s', during.rate, 'events/s'),
      atLeast('bridge.retention.ingest_during_purge_ratio', during.rate / alone.rate, 'ratio', 0.9),
    ];
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
