import { boundedLabel } from '@educard/terminal-sdk';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { JournalCommit, JournalStats } from '../journal/index.js';
import type { ReaderStatus } from '../readers/index.js';
import type { UplinkStatus } from '../uplink/index.js';

/** Where the gauges read the gateway's state, each time Prometheus scrapes. */
export interface GatewayMetricSources {
  journal: () => JournalStats;
  journalBudgetBytes: number;
  roster: () => { version: number; expiresAt: number; cards: number } | undefined;
  readers: () => ReaderStatus[];
  /** Absent when the gateway runs without an uplink. */
  uplink?: () => UplinkStatus | undefined;
  clockSynced: () => boolean;
  /** The fire alarm's emergency release holds the door unlocked. */
  emergencyRelease: () => boolean;
  /** Entries are refused: the lockdown switch, or the bridge's order. */
  lockdown: () => boolean;
  /** The gateway's clock, in milliseconds. */
  now: () => number;
}

/** A station's reasons are a fixed list and a library's or lab's own few: dozens, not more. */
const REASON_LIMIT = 60;
/** A gateway has a reader or two, a handful at most. */
const READER_LIMIT = 16;

/**
 * The gateway's Prometheus metrics (docs/metrics.md). Counters and histograms move as things happen
 * (the runtime calls `tap` and `readerError`, the journal `journalCommit`); gauges read the state when
 * scraped. Labels hold decisions, reasons and reader names: never a card or a person.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly taps;
  private readonly decisionSeconds;
  private readonly fsyncSeconds;
  private readonly writeFailures;
  private readonly readerErrors;
  private readonly reason = boundedLabel(REASON_LIMIT);
  private readonly reader = boundedLabel(READER_LIMIT);

  constructor(info: { firmware: string; station: string }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'educard_gateway_info',
      help: 'The firmware version and the station type (always 1)',
      labelNames: ['firmware', 'station'],
      registers,
    }).set(info, 1);
    this.taps = new Counter({
      name: 'educard_gateway_taps_total',
      help: 'Cards decided on, by decision and reason',
      labelNames: ['decision', 'reason'],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: 'educard_gateway_decision_seconds',
      help: 'From the reader seeing a card to the gate acting on the decision',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.fsyncSeconds = new Histogram({
      name: 'educard_gateway_journal_fsync_seconds',
      help: 'One group commit of the journal: its write and the fsync that makes it durable',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.writeFailures = new Counter({
      name: 'educard_gateway_journal_write_failures_total',
      help: 'Group commits that failed (the records stay queued and are written again)',
      registers,
    });
    this.readerErrors = new Counter({
      name: 'educard_gateway_reader_errors_total',
      help: 'Errors the card reader driver reported',
      registers,
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** One card decided on, and how long from the reader seeing it to the gate acting. */
  tap(decision: 'grant' | 'deny', reason: string, seconds: number): void {
    this.taps.inc({ decision, reason: this.reason(reason) });
    this.decisionSeconds.observe(seconds);
  }

  /** The journal's hook. */
  readonly journalCommit = (commit: JournalCommit): void => {
    if (commit.ok) this.fsyncSeconds.observe(commit.seconds);
    else this.writeFailures.inc();
  };

  readerError(): void {
    this.readerErrors.inc();
  }

  /** Registers the gauges that read the gateway's state at each scrape; called once it runs. */
  watch(sources: GatewayMetricSources): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    const journal = sources.journal;
    gauge(
      'educard_gateway_journal_backlog',
      'Events not yet acknowledged by the bridge',
      () => journal().backlog,
    );
    gauge(
      'educard_gateway_journal_last_seq',
      'The sequence number of the newest event',
      () => journal().lastSeq,
    );
    gauge(
      'educard_gateway_journal_acked_seq',
      'The highest sequence number the bridge has acknowledged',
      () => journal().ackedSeq,
    );
    gauge(
      'educard_gateway_journal_oldest_unacked_age_seconds',
      'How long ago the oldest event the bridge has not acknowledged happened (0 when none waits)',
      () => {
        const at = journal().oldestUnackedAt;
        return at ? Math.max(0, (sources.now() - Date.parse(at)) / 1000) : 0;
      },
    );
    gauge('educard_gateway_journal_bytes', 'Bytes the journal holds on disk', () => journal().bytes);
    gauge(
      'educard_gateway_journal_budget_bytes',
      "The journal's share of the disk",
      () => sources.journalBudgetBytes,
    );
    gauge(
      'educard_gateway_journal_disk_low',
      'Whether the journal is near its budget or the disk near full (1) or not (0)',
      () => (journal().diskLow ? 1 : 0),
    );
    gauge(
      'educard_gateway_journal_disk_full',
      'Whether the last journal write failed, so records wait in memory (1) or not (0)',
      () => (journal().diskFull ? 1 : 0),
    );
    gauge(
      'educard_gateway_journal_held_records',
      'Records waiting in memory for a disk that takes no writes (bounded by journal.maxHeldRecords)',
      () => journal().held,
    );
    gauge(
      'educard_gateway_journal_lost_records',
      'Records dropped from memory past that bound since the gateway started (each range journaled as journal.damaged once the disk writes)',
      () => journal().lost,
    );
    gauge(
      'educard_gateway_roster_version',
      'The roster version in force (0: none)',
      () => sources.roster()?.version ?? 0,
    );
    gauge(
      'educard_gateway_roster_expiry_timestamp_seconds',
      'When the roster in force expires, from its signed manifest (0 when there is none)',
      () => (sources.roster()?.expiresAt ?? 0) / 1000,
    );
    gauge('educard_gateway_roster_cards', 'Cards on the roster in force', () => sources.roster()?.cards ?? 0);
    gauge('educard_gateway_clock_synced', 'Whether the clock is synchronised (1) or not (0)', () =>
      sources.clockSynced() ? 1 : 0,
    );
    gauge(
      'educard_gateway_emergency_release',
      'Whether the emergency release (a fire alarm) holds the door unlocked (1) or not (0)',
      () => (sources.emergencyRelease() ? 1 : 0),
    );
    gauge(
      'educard_gateway_lockdown',
      "Whether the gate refuses entries for a lockdown, by its switch or the bridge's order (1) or not (0)",
      () => (sources.lockdown() ? 1 : 0),
    );
    const { reader } = this;
    new Gauge({
      name: 'educard_gateway_reader_connected',
      help: 'Each card reader the driver knows: connected (1) or not (0)',
      labelNames: ['reader'],
      registers,
      collect() {
        this.reset();
        for (const status of sources.readers())
          this.set({ reader: reader(status.name) }, status.connected ? 1 : 0);
      },
    });
    const { uplink } = sources;
    if (!uplink) return;
    gauge(
      'educard_gateway_uplink_connected',
      'Whether the uplink to the bridge is connected (1) or not (0)',
      () => (uplink()?.connected ? 1 : 0),
    );
    gauge(
      'educard_gateway_uplink_in_flight_batches',
      'Event batches sent and not yet acknowledged',
      () => uplink()?.inFlight ?? 0,
    );
    new Counter({
      name: 'educard_gateway_uplink_reconnects_total',
      help: 'Times the uplink connected again after losing the bridge (since the service started)',
      registers,
      collect() {
        this.reset();
        this.inc(uplink()?.reconnects ?? 0);
      },
    });
  }
}
