import { statfs } from 'node:fs/promises';
import { boundedLabel } from '@educard/terminal-sdk';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { CentralStatus } from '../central/index.js';
import type { BatchOutcome } from '../ingest/index.js';
import { REJECT_REASONS } from '../ingest/index.js';
import type { DeliveryOutcome } from '../notices/index.js';
import type { PurgeReport } from '../retention/index.js';
import type { Device } from '../store/index.js';

/** Where the gauges read the bridge's state, each time Prometheus scrapes. */
export interface BridgeMetricSources {
  /** Every device, revoked ones too. */
  devices: () => Device[];
  /** The roster version a device holds, as operations tracks it. */
  rosterHeld: (device: Device) => number | undefined;
  /** The latest roster version published for a school. */
  rosterLatest: (school: string) => number | undefined;
  openAlarms: () => { kind: string; count: number }[];
  central: () => CentralStatus;
  /** Each webhook's notices waiting and given up, and the schools whose absence notices are held. */
  notices: () => { pending: number; failed: number; absenceHeld?: { school: string }[] }[];
  mqttConnected: () => boolean;
  /** Its subscriptions granted and, where it probes, its own probe heard on this connection. */
  mqttHearing: () => boolean;
  /** The directory whose file system holds the database. */
  dataDir: string;
}

const BATCH_OUTCOMES = ['stored', 'duplicate', 'gap', 'rejected', 'failed'] as const;
const DELIVERY_OUTCOMES: readonly DeliveryOutcome[] = ['delivered', 'retry', 'given-up'];
/** Alarm kinds are a fixed list plus what other parts raise: a few dozen at most. */
const ALARM_KIND_LIMIT = 50;

const seconds = (iso: string | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);

const FORGOTTEN = ['loans', 'bookings', 'versions', 'alarms', 'tokens'] as const;

/** What a purge run forgot beside events, by the `what` label of `educard_bridge_retention_forgotten_total`. */
const forgottenOf = (report: PurgeReport): Record<(typeof FORGOTTEN)[number], number> => ({
  loans: report.loansForgotten,
  bookings: report.bookingsForgotten,
  versions: report.versionsThinned,
  alarms: report.alarmsForgotten,
  tokens: report.tokensForgotten,
});

/**
 * The bridge's Prometheus metrics (docs/metrics.md). Counters and histograms move as things happen,
 * through the hooks the runtime hands to ingest (`onBatch`), notices (`onDelivery`) and the retention
 * purge (`onRetentionRun`); gauges read
 * the state when scraped. Device ids appear only on the per-device gauges; no card or person id is
 * ever a label.
 */
export class BridgeMetrics {
  readonly registry = new Registry();
  private readonly batches;
  private readonly records;
  private readonly uninterpreted;
  private readonly resends;
  private readonly rejected;
  private readonly batchRecords;
  private readonly commitSeconds;
  private readonly deliveries;
  private readonly unresolvedPseudonyms;
  private readonly retention;
  private readonly alarmKind = boundedLabel(ALARM_KIND_LIMIT);
  /** Counts scrapes, so that what several gauges read is read once per scrape. */
  private scrapes = 0;

  constructor(version: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'educard_bridge_info',
      help: 'The bridge software version (always 1)',
      labelNames: ['version'],
      registers,
    }).set({ version }, 1);
    this.batches = new Counter({
      name: 'educard_bridge_ingest_batches_total',
      help: 'Event batches taken off the broker, by how they ended',
      labelNames: ['outcome'],
      registers,
    });
    this.records = new Counter({
      name: 'educard_bridge_ingest_records_stored_total',
      help: 'Event records committed to the store (each once, whatever was resent)',
      registers,
    });
    this.uninterpreted = new Counter({
      name: 'educard_bridge_ingest_records_uninterpreted_total',
      help: 'Records stored whose data did not match their type: kept, not interpreted',
      registers,
    });
    this.resends = new Counter({
      name: 'educard_bridge_ingest_resend_requests_total',
      help: 'Devices asked to resend after a gap in their sequence',
      registers,
    });
    this.rejected = new Counter({
      name: 'educard_bridge_ingest_rejected_batches_total',
      help: 'Batches refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.batchRecords = new Histogram({
      name: 'educard_bridge_ingest_batch_records',
      help: 'Records per batch taken off the broker (rejected batches aside)',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'educard_bridge_ingest_commit_seconds',
      help: 'Time to commit one batch to the store (the transaction with its projections)',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.deliveries = new Counter({
      name: 'educard_bridge_notice_deliveries_total',
      help: 'Attempts at delivering parent notices to a webhook, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.unresolvedPseudonyms = new Counter({
      name: 'educard_bridge_ingest_pseudonyms_unresolved_total',
      help: "Gate pseudonyms that matched no card's holder under the school key: stored as they came",
      registers,
    });
    // Moved by the instance that holds the retention lease, after each run; 0 on the others.
    this.retention = {
      runs: new Counter({
        name: 'educard_bridge_retention_runs_total',
        help: 'Runs of the retention purge finished',
        registers,
      }),
      removed: new Counter({
        name: 'educard_bridge_retention_removed_events_total',
        help: 'Events the retention purge removed past their rules',
        registers,
      }),
      duration: new Gauge({
        name: 'educard_bridge_retention_last_run_duration_seconds',
        help: "How long the retention purge's last run took",
        registers,
      }),
      forgotten: new Counter({
        name: 'educard_bridge_retention_forgotten_total',
        help: 'What the retention purge forgot beside events: loans, bookings, roster versions thinned, alarms, tokens',
        labelNames: ['what'],
        registers,
      }),
      held: new Gauge({
        name: 'educard_bridge_retention_held_events',
        help: 'Events past their retention the last run kept: not acknowledged by the central system, or of an item on loan',
        labelNames: ['reason'],
        registers,
      }),
    };
    // Every known label value from the start, so that rate() sees a series before its first event.
    for (const outcome of BATCH_OUTCOMES) this.batches.inc({ outcome }, 0);
    for (const reason of REJECT_REASONS) this.rejected.inc({ reason }, 0);
    for (const what of FORGOTTEN) this.retention.forgotten.inc({ what }, 0);
    for (const outcome of DELIVERY_OUTCOMES) this.deliveries.inc({ outcome }, 0);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text Prometheus scrapes. */
  text(): Promise<string> {
    this.scrapes += 1;
    return this.registry.metrics();
  }

  /** `read`, called at most once per scrape. */
  private perScrape<T>(read: () => T): () => T {
    let taken: { scrape: number; value: T } | undefined;
    return () => {
      if (taken?.scrape !== this.scrapes) taken = { scrape: this.scrapes, value: read() };
      return taken.value;
    };
  }

  /** Ingest's hook: counts one batch's outcome. */
  readonly onBatch = (outcome: BatchOutcome): void => {
    this.batches.inc({ outcome: outcome.kind });
    switch (outcome.kind) {
      case 'rejected':
        this.rejected.inc({ reason: outcome.reason });
        return;
      case 'stored':
        this.records.inc(outcome.stored);
        this.uninterpreted.inc(outcome.uninterpreted);
        this.commitSeconds.observe(outcome.commitSeconds);
        break;
      case 'gap':
        if (outcome.resendAsked) this.resends.inc();
        break;
      case 'duplicate':
        break;
      case 'failed':
        return;
    }
    this.batchRecords.observe(outcome.records);
  };

  /** The notices' hook: counts one delivery attempt. */
  readonly onDelivery = (outcome: DeliveryOutcome): void => {
    this.deliveries.inc({ outcome });
  };

  /** The retention purge's hook: one run's outcome. */
  readonly onRetentionRun = (report: PurgeReport): void => {
    this.retention.runs.inc();
    this.retention.removed.inc(report.removed);
    this.retention.duration.set(report.durationMs / 1000);
    this.retention.held.set({ reason: 'unacknowledged' }, report.heldUnacknowledged);
    this.retention.held.set({ reason: 'open-loan' }, report.heldOpenLoans);
    for (const [what, count] of Object.entries(forgottenOf(report)))
      this.retention.forgotten.inc({ what }, count);
  };

  /** Ingest's pseudonym hook: counts one that matched no card's holder. */
  readonly onUnresolvedPseudonym = (): void => {
    this.unresolvedPseudonyms.inc();
  };

  /** Registers the gauges that read the bridge's state at each scrape; called once everything runs. */
  watch(sources: BridgeMetricSources): void {
    const registers = [this.registry];
    new Gauge({
      name: 'educard_bridge_mqtt_connected',
      help: 'Whether the bridge is connected to its broker (1) or not (0)',
      registers,
      collect() {
        this.set(sources.mqttConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'educard_bridge_mqtt_hearing',
      help: 'Whether the broker delivers to the bridge what it subscribed to (1) or not yet, or not at all (0)',
      registers,
      collect() {
        this.set(sources.mqttHearing() ? 1 : 0);
      },
    });
    this.watchDevices(sources);
    const { alarmKind } = this;
    new Gauge({
      name: 'educard_bridge_alarms_open',
      help: 'Open alarms, by kind',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const { kind, count } of sources.openAlarms()) this.inc({ kind: alarmKind(kind) }, count);
      },
    });
    if (sources.central().mode !== 'off') this.watchCentral(this.perScrape(sources.central));
    // Three gauges read the webhooks' status (a few queries each): once per scrape.
    const noticesNow = this.perScrape(sources.notices);
    const notices = (field: 'pending' | 'failed') => () =>
      noticesNow().reduce((sum, hook) => sum + hook[field], 0);
    const pendingNotices = notices('pending');
    const failedNotices = notices('failed');
    new Gauge({
      name: 'educard_bridge_notices_pending',
      help: 'Parent notices not yet confirmed by their webhook',
      registers,
      collect() {
        this.set(pendingNotices());
      },
    });
    new Gauge({
      name: 'educard_bridge_notices_failed',
      help: 'Parent notices whose delivery was given up (kept for a retry by hand)',
      registers,
      collect() {
        this.set(failedNotices());
      },
    });
    new Gauge({
      name: 'educard_bridge_notices_absence_held',
      help: '1 for a school whose absence notices are held (a gate offline, or none has recorded anyone today): its parents are not told yet',
      labelNames: ['school'],
      registers,
      collect() {
        this.reset();
        for (const hook of noticesNow())
          for (const held of hook.absenceHeld ?? []) this.set({ school: held.school }, 1);
      },
    });
    new Gauge({
      name: 'educard_bridge_data_disk_bytes',
      help: "The file system of the bridge's data directory: its size and what is free for the bridge",
      labelNames: ['kind'],
      registers,
      async collect() {
        const fs = await statfs(sources.dataDir);
        this.set({ kind: 'size' }, fs.blocks * fs.bsize);
        this.set({ kind: 'free' }, fs.bavail * fs.bsize);
      },
    });
  }

  private watchDevices(sources: BridgeMetricSources): void {
    const registers = [this.registry];
    const perDevice = ['school', 'device'] as const;
    // One gauge collects them all, so that every family of one scrape comes from one reading; it is
    // registered first, since the registry reads its families in the order they were registered.
    new Gauge({
      name: 'educard_bridge_devices',
      help: 'Enrolled devices, by state (online, offline, revoked)',
      labelNames: ['state'],
      registers,
      collect() {
        for (const gauge of [this, online, lastSeen, backlog, held, latest]) gauge.reset();
        const counts = { online: 0, offline: 0, revoked: 0 };
        const latestOf = new Map<string, number | undefined>();
        let late = 0;
        for (const device of sources.devices()) {
          if (device.revokedAt !== undefined) {
            counts.revoked += 1;
            continue;
          }
          const labels = { school: device.school, device: device.id };
          const isOnline = device.presence?.online === true;
          counts[isOnline ? 'online' : 'offline'] += 1;
          online.set(labels, isOnline ? 1 : 0);
          const seen = seconds(device.lastSeenAt);
          if (seen !== undefined) lastSeen.set(labels, seen);
          const journalBacklog = device.presence?.journalBacklog;
          if (journalBacklog !== undefined) backlog.set(labels, journalBacklog);
          if (!latestOf.has(device.school)) latestOf.set(device.school, sources.rosterLatest(device.school));
          const version = sources.rosterHeld(device);
          if (version !== undefined) held.set(labels, version);
          const newest = latestOf.get(device.school);
          if (newest !== undefined && (version ?? 0) < newest) late += 1;
        }
        for (const [school, version] of latestOf) if (version !== undefined) latest.set({ school }, version);
        for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
        behind.set(late);
      },
    });
    const online = new Gauge({
      name: 'educard_bridge_device_online',
      help: 'Whether a device is connected (1) or not (0), by its last birth or death; revoked devices are left out',
      labelNames: perDevice,
      registers,
    });
    const lastSeen = new Gauge({
      name: 'educard_bridge_device_last_seen_timestamp_seconds',
      help: 'When a device was last heard of (its last birth or death)',
      labelNames: perDevice,
      registers,
    });
    const backlog = new Gauge({
      name: 'educard_bridge_device_journal_backlog',
      help: 'Events a device held unacknowledged when it last connected (as its birth message said)',
      labelNames: perDevice,
      registers,
    });
    const held = new Gauge({
      name: 'educard_bridge_device_roster_version',
      help: 'The roster version a device holds',
      labelNames: perDevice,
      registers,
    });
    const latest = new Gauge({
      name: 'educard_bridge_school_roster_version',
      help: 'The latest roster version published for a school',
      labelNames: ['school'],
      registers,
    });
    const behind = new Gauge({
      name: 'educard_bridge_devices_roster_behind',
      help: "Devices (not revoked) holding an older roster than their school's latest",
      registers,
    });
  }

  private watchCentral(status: () => CentralStatus): void {
    const registers = [this.registry];
    new Gauge({
      name: 'educard_bridge_central_outbox_pending_events',
      help: 'Events not yet taken by the central system (api mode)',
      registers,
      collect() {
        this.set(status().push?.pending ?? 0);
      },
    });
    new Gauge({
      name: 'educard_bridge_central_outbox_lag_seconds',
      help: 'How old the oldest event not yet taken by the central system is (api mode; 0 when none waits)',
      registers,
      collect() {
        this.set(status().push?.lagSeconds ?? 0);
      },
    });
    new Gauge({
      name: 'educard_bridge_central_dead_letters',
      help: 'Events the central system refused until they were set aside (api mode)',
      registers,
      collect() {
        this.set(status().push?.deadLetters ?? 0);
      },
    });
    new Counter({
      name: 'educard_bridge_central_delivered_events_total',
      help: 'Events the central system has taken (api mode; kept across restarts)',
      registers,
      collect() {
        this.reset();
        this.inc(status().push?.delivered ?? 0);
      },
    });
    const stamps: [string, string, (s: CentralStatus) => string | undefined][] = [
      [
        'educard_bridge_central_push_last_success_timestamp_seconds',
        'When the central system last took a batch of events (api mode)',
        (s) => s.push?.lastSuccessAt,
      ],
      [
        'educard_bridge_central_feed_last_pull_timestamp_seconds',
        "When the central system's change feed was last read (api mode)",
        (s) => s.feed?.lastPullAt,
      ],
      [
        'educard_bridge_central_files_last_export_timestamp_seconds',
        'When events were last written to the outbox directory (file mode)',
        (s) => s.files?.lastExportAt,
      ],
    ];
    for (const [name, help, read] of stamps) {
      // Labelled by mode, so that a timestamp never read is absent rather than 1970.
      new Gauge({
        name,
        help,
        labelNames: ['mode'],
        registers,
        collect() {
          this.reset();
          const current = status();
          const at = seconds(read(current));
          if (at !== undefined) this.set({ mode: current.mode }, at);
        },
      });
    }
  }
}
