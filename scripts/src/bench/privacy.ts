import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep, setImmediate as yieldToLoop } from 'node:timers/promises';
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
/** One window of the purge running or stopped, with ingest running throughout. */
const WINDOW_MS = 4000;

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

/** Ingest committed over a span of time. */
interface Span {
  events: number;
  seconds: number;
}

const rate = (span: Span) => span.events / span.seconds;

/**
 * Ingest at its full rate throughout, and the purge run in alternate windows of `WINDOW_MS`: stopped,
 * running (a fresh run that goes on from where the last stopped: what it removed is gone), stopped…
 * until a run finishes, and stopped once more. The machine's disk drifts by tens of percent over a
 * minute here (a shared host); windows this short put both kinds of ingest in the same drift, which a
 * rate measured alone before the purge and compared with one during it did not. Each purge window is
 * set against the mean rate of the windows on either side of it: with only the one before, a rate
 * falling through the run (as the database grows) was counted against the purge.
 */
async function purgeInWindows(store: SqliteBridgeStore, retention: () => Retention) {
  const load = new IngestLoad(store, 'ingest');
  const alone: Span[] = [];
  const during: Span[] = [];
  const measured = async (spans: Span[], work: () => Promise<void>) => {
    const committed = load.committed;
    const started = performance.now();
    await work();
    spans.push({ events: load.committed - committed, seconds: (performance.now() - started) / 1000 });
  };
  let purged = 0;
  let finished = false;
  while (!finished) {
    await measured(alone, () => sleep(WINDOW_MS));
    await measured(during, async () => {
      const purge = retention();
      const run = purge.runOnce();
      finished = await Promise.race([run.then(() => true), sleep(WINDOW_MS).then(() => false)]);
      if (!finished) await purge.stop();
      purged += (await run).removed;
    });
  }
  await measured(alone, () => sleep(WINDOW_MS));
  await load.stop();
  const total = (spans: Span[]) => ({
    events: spans.reduce((sum, span) => sum + span.events, 0),
    seconds: spans.reduce((sum, span) => sum + span.seconds, 0),
  });
  const bracketing = during.reduce((sum, span, i) => {
    const around = ((rate(alone[i] as Span) + rate(alone[i + 1] as Span)) / 2) * span.seconds;
    return sum + around;
  }, 0);
  const duringTotal = total(during);
  return { purged, alone: total(alone), during: duringTotal, ratio: duringTotal.events / bracketing };
}

/**
 * 1,000,000 stored gate passages, a third past the 180-day rule, purged with the default settings
 * while ingest commits at its full rate in the same process (one SQLite connection, one event loop:
 * the purge's pacing is what leaves ingest its rate). Ingest is measured in the windows with the
 * purge running and in those between (purgeInWindows): the ratio is each purge window's ingest over
 * what the windows around it had, pooled; the purge rate is the events it removed over the windows it
 * ran in.
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
    const retention = () =>
      new Retention({
        db: store.database,
        config: RetentionConfig.parse({}),
        central: 'off',
        audit: { record: () => undefined },
        logger: pino({ level: 'silent' }),
        now: () => new Date(NOW),
      });
    const { purged, alone, during, ratio } = await purgeInWindows(store, retention);
    const expected = Math.floor(STORED / DEVICES / 3) * DEVICES + DEVICES;
    if (Math.abs(purged - expected) > DEVICES)
      throw new Error(`the purge removed ${purged} events, not the ${expected} past the rule`);
    return [
      atLeast('bridge.retention.purge_events_per_s', purged / during.seconds, 'events/s', 5000),
      info('bridge.retention.ingest_alone_per_s', rate(alone), 'events/s'),
      info('bridge.retention.ingest_during_purge_per_s', rate(during), 'events/s'),
      atLeast('bridge.retention.ingest_during_purge_ratio', ratio, 'ratio', 0.9),
    ];
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}
