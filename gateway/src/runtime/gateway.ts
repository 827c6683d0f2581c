import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Command,
  type Direction,
  type EventBody,
  type EventRecord,
  type LocalGatewayState,
  releaseArchOf,
  rosterVariantFor,
  SPEC_VERSION,
  Teardown,
  within,
} from '@educard/terminal-sdk';
import { TrustedClock } from '../clock/index.js';
import { controlSocketPath, type GatewayConfig, type StationConfig } from '../config/index.js';
import type { HotlistBodySource } from '../hotlist/index.js';
import { loadOrCreateIdentity } from '../identity/index.js';
import { GateActuators } from '../io/index.js';
import { Journal } from '../journal/index.js';
import { BridgeLockdown } from '../lockdown/index.js';
import { createLogger, type Logger } from '../log/index.js';
import { GatewayMetrics, MetricsServer } from '../metrics/index.js';
import { playScript, playScriptFile, type ReaderDriver, SimulatedReaderDriver } from '../readers/index.js';
import { type AcceptResult, type BodySource, RosterRejected, RosterStore } from '../roster/index.js';
import type { Station, StationBuild, VenueData } from '../stations/index.js';
import { listQuarantined, type Quarantined } from '../storage/index.js';
import { FIRMWARE, type UpdateAgent } from '../updates/index.js';
import type { Uplink } from '../uplink/index.js';
import { controlServerFor } from './control.js';
import { DoorIo } from './door.js';
import { readerDriverFor, wireReaders } from './readers.js';
import { clockReportOf, rosterReportOf, storageReportOf } from './report.js';
import { createStation, hasTerminals } from './stations.js';
import type { TerminalSide } from './terminal-stations.js';
import { updateAgentFor } from './updates.js';

/** The version of this build: the gateway's package.json, which a release's builder stamps. */
export const FIRMWARE_VERSION = FIRMWARE.version;

/** The exit code with which the gateway asks its service manager to start it again (a new release, a rollback). */
export const RESTART_EXIT_CODE = 75;

/** The longest the start waits for its first record to be durable. */
const START_FLUSH_MS = 2_000;

/**
 * The Node flags the gateway service runs with (main.ts's shebang and the systemd unit say the same).
 * The young generation's two semi-spaces stay committed once a roster load has filled them: bounded at
 * 2 MB each, the process holds about 5 MB less after loading 100,000 cards than at 4 MB (V8's default
 * is 16), for no CPU time the load or the tap path shows (docs/gateway.md, Benchmarks).
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=2'] as const;

export interface GatewayOptions {
  config: GatewayConfig;
  logger?: Logger;
  /** The wall clock, for tests and the demo. */
  now?: () => number;
  synced?: () => boolean;
  /** A reader driver made by the caller (a test harness); otherwise the one the config names. */
  readers?: ReaderDriver;
  /** An IO plugin made by the caller (a RecordingIO to read back); otherwise the one the config names. */
  io?: unknown;
}

/**
 * The one place that wires a gateway together, after zigbee2mqtt's controller: each part is started
 * in order and stopped in reverse, and hardware events reach the station through the event bus.
 */
export class Gateway {
  private scriptDone: Promise<number> | undefined;
  private uplinkValue: Uplink | undefined;
  private metricsServer: MetricsServer | undefined;
  /** The broker and pages of a library desk's or computer room's terminals. */
  private terminalSide: TerminalSide | undefined;
  /** Files in quarantine folders, as found once every store has opened. */
  private quarantined: Quarantined[] = [];
  private readonly startedAt = new Date().toISOString();
  private keyId: string | undefined;
  private updates: UpdateAgent | undefined;
  /** The readers seen, with the direction their binding gives (undefined: no binding, cards ignored). */
  private directionOf: ReadonlyMap<string, Direction | undefined> = new Map();
  private askRestart: (why: string) => void = () => undefined;
  /**
   * Resolves when the gateway wants to be started again from the release `current` names (an update
   * switched, or went back): main.ts stops it and exits with {@link RESTART_EXIT_CODE}.
   */
  readonly restartRequested = new Promise<string>((resolve) => {
    this.askRestart = resolve;
  });

  private constructor(
    readonly config: GatewayConfig,
    readonly logger: Logger,
    readonly clock: TrustedClock,
    readonly journal: Journal,
    readonly roster: RosterStore,
    readonly io: GateActuators,
    readonly readers: ReaderDriver,
    private readonly built: StationBuild,
    readonly metrics: GatewayMetrics,
    private readonly teardown: Teardown,
    private readonly door: DoorIo,
  ) {}

  /**
   * Starts every part in order, each noting its stop; a part that fails to start stops the parts
   * before it (newest first) and the start rejects with its error.
   */
  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config } = options;
    const logger = options.logger ?? createLogger('gateway', { level: config.log.level });
    const teardown = new Teardown(logger);
    try {
      return await Gateway.startParts(options, logger, teardown);
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'gateway start failed; stopping what had started');
      await teardown.run();
      throw error;
    }
  }

  private static async startParts(
    options: GatewayOptions,
    logger: Logger,
    teardown: Teardown,
  ): Promise<Gateway> {
    const { config } = options;
    logger.info({ device: config.device.id, firmware: FIRMWARE_VERSION }, 'gateway starting');
    const rosterDir = join(config.dataDir, 'roster');
    const journalDir = join(config.dataDir, 'journal');
    await mkdir(rosterDir, { recursive: true });
    await mkdir(journalDir, { recursive: true });
    // Made first: the journal and the station count into it as they work.
    const metrics = new GatewayMetrics({ firmware: FIRMWARE_VERSION, station: config.station.type });

    const clock = await TrustedClock.open({
      dataDir: config.dataDir,
      logger,
      rtc: config.clock.rtc,
      ...(options.now ? { now: options.now } : {}),
      ...(options.synced ? { synced: options.synced } : {}),
    });
    teardown.add('clock', () => clock.persist());
    let started: Gateway | undefined;
    const journal = await Journal.open({
      dir: journalDir,
      device: config.device.id,
      segmentBytes: config.journal.segmentBytes,
      budgetBytes: config.journal.budgetBytes,
      minFreeBytes: config.journal.minFreeBytes,
      maxHeldRecords: config.journal.maxHeldRecords,
      closeTimeoutMs: config.journal.stopWaitMs,
      // The journal cannot tell the bridge of a full disk: the live device state does.
      onStorageChange: () => started?.uplink?.refreshState(),
      logger,
      now: () => new Date(clock.now()),
      onCommit: metrics.journalCommit,
    });
    teardown.add('journal', () => journal.close(), config.journal.stopWaitMs + 1_500);
    // A damaged clock.json: the device has surely seen the time of its newest journal record.
    if (clock.damaged && journal.newestAt) await clock.restoreFloor(Date.parse(journal.newestAt));
    const roster = await RosterStore.open({
      dir: rosterDir,
      school: config.device.school,
      device: config.device.id,
      variant: rosterVariantFor(config.station.type),
      logger,
      now: () => Math.max(clock.now(), clock.floor),
    });
    const io = new GateActuators({ config: config.io, logger, ...(options.io ? { io: options.io } : {}) });
    await io.start();
    teardown.add('io', () => io.stop());
    const record = (event: Omit<EventBody, 'at' | 'clock'>) => recordOn(journal, clock, event);
    const lockdown = await BridgeLockdown.open(join(config.dataDir, 'lockdown.json'), logger);
    const door = new DoorIo(io, config.station, record, logger, lockdown);
    const built = await createStation({
      config,
      roster,
      clock,
      journal,
      io,
      logger,
      record,
      lockedDown: () => door.lockedDown(),
    });
    const { station } = built;
    await station.start();
    teardown.add('station', () => station.stop());
    const readers = options.readers ?? readerDriverFor(config, logger);
    const gateway = new Gateway(
      config,
      logger,
      clock,
      journal,
      roster,
      io,
      readers,
      built,
      metrics,
      teardown,
      door,
    );
    started = gateway;
    gateway.wire();
    if (hasTerminals(station)) {
      // Loaded only here: a gate never needs the terminals' broker and pages.
      const { TerminalSide } = await import('./terminal-stations.js');
      const side = await TerminalSide.start({ config, station, state: () => gateway.localState(), logger });
      gateway.terminalSide = side;
      teardown.add('terminals', () => side.stop());
    }
    gateway.record({
      type: 'gateway.started',
      data: { firmware: FIRMWARE_VERSION, recoveredBytes: journal.recoveredBytes },
    });
    const damage = roster.damage;
    if (damage) {
      gateway.record({
        type: 'roster.rejected',
        data: {
          reason:
            `stored roster damaged (${damage.reasons.join('; ')}): ${damage.quarantined.length} file(s) quarantined, ${damage.usedVersion ? `version ${damage.usedVersion} in force` : 'no roster in force'} until a fresh snapshot arrives`.slice(
              0,
              512,
            ),
          version: damage.lostVersion,
        },
      });
    }
    gateway.quarantined = await listQuarantined(config.dataDir);
    // Durable before the gate opens, as far as the disk allows: a full one does not hold the start.
    await within(START_FLUSH_MS, journal.flush()).catch((error: unknown) =>
      logger.warn({ err: (error as Error).message }, 'start record not yet durable; the journal holds it'),
    );
    await gateway.prepareUpdates();
    // The gate decides from here on: the readers and the roster come up before the uplink, the
    // control socket and the metrics, which load and connect while it already decides (the journal
    // holds what it decides until the uplink sends it). After an update this is most of the time a
    // gate cannot decide (docs/updates.md).
    await readers.start();
    teardown.add('readers', () => readers.stop());
    gateway.playConfiguredScript();
    await gateway.startUplink();
    await gateway.startControl();
    await gateway.startMetrics();
    await gateway.updates?.start();
    teardown.add('updates', () => gateway.updates?.stop());
    logger.info(
      {
        device: config.device.id,
        station: config.station.id,
        roster: roster.view?.version ?? 0,
        journal: journal.stats().lastSeq,
      },
      'gateway started',
    );
    return gateway;
  }

  /** The one station this gateway runs: a gate, a venue, a library desk or a computer room. */
  get station(): Station {
    return this.built.station;
  }

  /** Appends an event stamped with the clock: for events that are not taps. */
  record(event: Omit<EventBody, 'at' | 'clock'>): EventRecord {
    return recordOn(this.journal, this.clock, event);
  }

  /**
   * Verifies and applies a roster update, journaling what happened: `roster.applied`, or
   * `roster.rejected` with the reason (the roster in force stays). Rethrows the rejection.
   */
  async acceptRoster(manifest: Uint8Array, body: BodySource): Promise<AcceptResult> {
    try {
      const result = await this.roster.accept(manifest, body);
      if (result.status === 'applied') {
        this.record({ type: 'roster.applied', data: { version: result.version, kind: result.kind } });
      }
      return result;
    } catch (error) {
      if (error instanceof RosterRejected)
        this.record({ type: 'roster.rejected', data: { reason: error.message.slice(0, 512) } });
      throw error;
    }
  }

  /**
   * Verifies and applies a hotlist update (a venue's), journaling what happened: `hotlist.applied`, or
   * `hotlist.rejected` with the reason (the list in force stays). Rethrows the rejection.
   */
  async acceptHotlist(manifest: Uint8Array, body: HotlistBodySource) {
    const hotlist = this.built.feeds?.venue?.hotlist;
    if (!hotlist) throw new Error('only a venue holds a hotlist');
    return hotlist.accept(manifest, body);
  }

  /** The venue's hotlist and plan, when this gateway is a venue. */
  get venue(): VenueData | undefined {
    return this.built.venue;
  }

  /** Resolves when the configured tap script has been played to its end. */
  scriptFinished(): Promise<number> {
    return this.scriptDone ?? Promise.resolve(0);
  }

  get uplink(): Uplink | undefined {
    return this.uplinkValue;
  }

  /** What a birth message and a status report say about this device. */
  status() {
    const journal = this.journal.stats();
    return {
      firmware: FIRMWARE_VERSION,
      rosterVersion: this.roster.view?.version ?? 0,
      keySetVersion: this.roster.keySetVersion,
      journalBacklog: journal.backlog,
      lastSeq: journal.lastSeq,
      storage: {
        diskLow: journal.diskLow,
        diskFull: journal.diskFull,
        held: journal.held,
        maxHeld: journal.maxHeld,
        lost: journal.lost,
        ...(journal.freeBytes !== undefined ? { freeBytes: journal.freeBytes } : {}),
        quarantined: this.quarantined.length,
      },
      ...(releaseArchOf() ? { arch: releaseArchOf() } : {}),
      formats: FIRMWARE.dataFormats,
      station: this.config.station.type,
    };
  }

  /**
   * The device's storage for `educard status` and doctor: the disk, what waits in memory and what
   * was lost, the files kept in quarantine and the newest loss the journal explains.
   */
  storageReport() {
    return storageReportOf(this.journal, this.clock, this.roster, this.quarantined);
  }

  /** Everything `educard status` shows: one screen on the device's health. */
  report() {
    const { config, clock } = this;
    const journal = this.journal.stats();
    const reading = clock.read();
    return {
      device: { id: config.device.id, school: config.device.school, keyId: this.keyId },
      station: { id: config.station.id, type: config.station.type, zone: config.station.zone },
      firmware: FIRMWARE_VERSION,
      pid: process.pid,
      startedAt: this.startedAt,
      roster: rosterReportOf(this.roster, reading.now),
      journal: {
        lastSeq: journal.lastSeq,
        ackedSeq: journal.ackedSeq,
        backlog: journal.backlog,
        oldestUnackedAt: journal.oldestUnackedAt ?? null,
        bytes: journal.bytes,
        budgetBytes: config.journal.budgetBytes,
        diskLow: journal.diskLow,
      },
      storage: this.storageReport(),
      uplink: this.uplinkValue ? { url: config.uplink?.url, ...this.uplinkValue.status() } : null,
      readers: { driver: config.readers.driver, list: this.readers.readers() },
      ...this.stationReport(reading.now),
      update: this.updates?.status() ?? null,
      io: this.io.status(),
      // The switch is the gate IO's (`io.lockdown`); this is the bridge's order.
      lockdown: { bridge: this.door.bridgeLockdown },
      clock: clockReportOf(clock, reading),
      lastTaps: this.station.recentTaps(),
    };
  }

  /** What the station's own data comes to, under its type (`venue`: its hotlist, plan and day). */
  private stationReport(now: number): Partial<Record<StationConfig['type'], Record<string, unknown>>> {
    return this.built.report ? { [this.config.station.type]: this.built.report(now) } : {};
  }

  /** The terminal broker's and the pages' addresses, when they run. */
  get terminalPorts(): { tcp?: number; ws?: number; pages?: string } {
    const side = this.terminalSide;
    const ports = side?.ports ?? {};
    return {
      ...(ports.tcp !== undefined ? { tcp: ports.tcp } : {}),
      ...(ports.ws !== undefined ? { ws: ports.ws } : {}),
      ...(side?.pages ? { pages: side.pages.url } : {}),
    };
  }

  /** What the terminals' pages hear of this gateway: its link to the bridge, its data, its station. */
  localState(): LocalGatewayState {
    const uplink = this.uplinkValue?.status();
    const { config } = this;
    const catalogue = this.built.feeds?.catalogue;
    return {
      v: SPEC_VERSION,
      device: config.device.id,
      school: config.device.school,
      online: uplink?.connected ?? false,
      backlog: this.journal.stats().backlog,
      rosterVersion: this.roster.view?.version ?? 0,
      ...(catalogue ? { catalogueVersion: catalogue.version() } : {}),
      stations: [{ id: config.station.id, kind: config.station.type }],
      at: new Date(this.clock.now()).toISOString(),
    };
  }

  /**
   * Stops every part in the reverse order of its start, each within a bound: a peer that never
   * answers or a disk that takes no writes never holds a stop past a few seconds. What the journal
   * could not make durable is logged and written (journal.close).
   */
  async stop(): Promise<void> {
    await this.teardown.run();
    const { held, lost } = this.journal.stats();
    this.logger.info({ unsaved: held, lost }, 'gateway stopped');
  }

  private async startControl(): Promise<void> {
    const control = controlServerFor({
      path: controlSocketPath(this.config),
      logger: this.logger,
      station: this.station,
      handlers: {
        status: () => this.report(),
        'readers.list': () => this.readers.readers(),
        'io.test': (params) => this.door.selfTest(params.parts),
        'update.status': () => this.updates?.status() ?? null,
        'update.commit': () => this.updateAgent().commitNow(),
        'update.rollback': () => this.updateAgent().rollbackNow(),
      },
    });
    await control.start();
    this.teardown.add('control', () => control.stop());
  }

  /** The metrics' gauges, and their listener when the config asks for one. */
  private async startMetrics(): Promise<void> {
    const { config, journal, roster, clock } = this;
    const uplink = this.uplinkValue;
    this.metrics.watch({
      journal: () => journal.stats(),
      journalBudgetBytes: config.journal.budgetBytes,
      roster: () => {
        const view = roster.view;
        return view ? { version: view.version, expiresAt: view.expiresAt, cards: view.size } : undefined;
      },
      readers: () => this.readers.readers(),
      ...(uplink ? { uplink: () => uplink.status() } : {}),
      clockSynced: () => clock.synced(),
      emergencyRelease: () => this.io.emergencyReleased(),
      lockdown: () => this.door.lockedDown(),
      now: () => clock.now(),
    });
    if (!config.metrics) return;
    const server = new MetricsServer(config.metrics, this.metrics, this.logger);
    await server.start();
    this.metricsServer = server;
    this.teardown.add('metrics', () => server.stop());
  }

  /** Where Prometheus scrapes this gateway, when it serves metrics. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  private updateAgent(): UpdateAgent {
    if (!this.updates)
      throw new Error(`updates are off: ${this.config.update.root} holds no release (docs/updates.md)`);
    return this.updates;
  }

  /** Bound readers that are there now: what a new release must bind again before it is committed. */
  private boundReaders(): string[] {
    return this.readers
      .readers()
      .filter((reader) => reader.connected && this.directionOf.get(reader.name) !== undefined)
      .map((reader) => reader.name)
      .sort();
  }

  /** Why a restart must wait: a card on a reader, a station's transaction. */
  private busy(): string | undefined {
    const card = this.readers.readers().find((reader) => reader.cardPresent);
    if (card) return `a card is on reader ${card.name}`;
    return this.station.busy?.();
  }

  private async prepareUpdates(): Promise<void> {
    this.updates = await updateAgentFor({
      config: this.config,
      logger: this.logger,
      journal: this.journal,
      roster: this.roster,
      now: () => this.clock.now(),
      boundReaders: () => this.boundReaders(),
      uplinkConnected: () => this.uplinkValue?.status().connected ?? false,
      record: (event) => this.record(event),
      report: (progress) => this.uplinkValue?.publishProgress(progress),
      busy: () => this.busy(),
      restart: (why) => this.askRestart(why),
    });
  }

  private async startUplink(): Promise<void> {
    const { config } = this;
    if (!config.uplink) return;
    const identity = await loadOrCreateIdentity(resolve(config.dataDir, config.identity.keyFile));
    this.keyId = identity.keyId;
    // Loaded only now, after the readers: the broker client is not needed to decide.
    const { Uplink } = await import('../uplink/index.js');
    this.uplinkValue = new Uplink({
      config: config.uplink,
      device: config.device.id,
      school: config.device.school,
      dataDir: config.dataDir,
      identity,
      journal: this.journal,
      roster: this.roster,
      acceptRoster: (manifest, body) => this.acceptRoster(manifest, body),
      status: () => this.status(),
      onCommand: (command) => this.runCommand(command),
      gate: config.station.type === 'gate',
      logger: this.logger,
      ...this.built.feeds,
      ...(this.updates ? { updates: this.updates } : {}),
    });
    const uplink = this.uplinkValue;
    await uplink.start();
    this.teardown.add('uplink', () => uplink.stop());
  }

  /** The commands that act on the gateway itself; the uplink handles resend and roster reload. */
  private async runCommand(command: Command): Promise<Record<string, unknown> | undefined> {
    switch (command.name) {
      case 'door.open':
        this.door.open(command.args.seconds, command.id);
        return undefined;
      case 'lockdown.set': {
        const { active, version } = await this.door.setLockdown(command.args, new Date(this.clock.now()));
        return { active, version };
      }
      case 'log.level':
        this.logger.level = command.args.level;
        return { level: command.args.level };
      case 'status.report':
        return { ...this.status(), uplink: this.uplinkValue?.status(), readers: this.readers.readers() };
      default:
        return undefined;
    }
  }

  private wire(): void {
    this.directionOf = wireReaders({
      config: this.config,
      readers: this.readers,
      station: this.station,
      journal: this.journal,
      metrics: this.metrics,
      logger: this.logger,
      record: (event) => this.record(event),
      now: () => this.clock.now(),
      stopping: () => this.teardown.stopping,
    });
  }

  private playConfiguredScript(): void {
    const { script } = this.config.readers;
    if (!script || !(this.readers instanceof SimulatedReaderDriver)) return;
    const driver = this.readers;
    this.scriptDone = (
      script === '-'
        ? playScript(driver, process.stdin, this.logger)
        : playScriptFile(driver, script, this.logger)
    ).catch((error: unknown) => {
      this.logger.error({ err: error }, 'tap script failed');
      return 0;
    });
  }
}

/** Appends an event stamped with the clock's reading: for events that are not taps. */
function recordOn(
  journal: Journal,
  clock: TrustedClock,
  event: Omit<EventBody, 'at' | 'clock'>,
): EventRecord {
  const reading = clock.read();
  return journal.append({
    ...event,
    at: new Date(reading.now).toISOString(),
    ...clock.stamp(reading),
  } as EventBody);
}
