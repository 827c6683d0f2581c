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
} from '@educard/terminal-sdk';
import { type CatalogueBodySource, CatalogueStore, trustedKeySets } from '../catalogue/index.js';
import { TrustedClock } from '../clock/index.js';
import { controlSocketPath, type GatewayConfig } from '../config/index.js';
import { ControlServer } from '../control/index.js';
import { type HotlistBodySource, HotlistStore } from '../hotlist/index.js';
import { loadOrCreateIdentity } from '../identity/index.js';
import { GateActuators, IO_TEST_PARTS, type IoTestPart } from '../io/index.js';
import { Journal } from '../journal/index.js';
import { createLogger, type Logger, maskCardId } from '../log/index.js';
import { GatewayMetrics, MetricsServer } from '../metrics/index.js';
import { PassbackState } from '../policy/index.js';
import {
  type CardPresented,
  PcscReaderDriver,
  playScript,
  playScriptFile,
  type ReaderDriver,
  SimulatedReaderDriver,
} from '../readers/index.js';
import { type AcceptResult, type BodySource, RosterRejected, RosterStore } from '../roster/index.js';
import {
  type DoorStation,
  GateStation,
  LabStation,
  LibraryStation,
  libraryBackendFor,
  type TerminalStation,
  VenuePlanStore,
  VenueStation,
} from '../stations/index.js';
import { listQuarantined, type Quarantined } from '../storage/index.js';
import { bridgeSource, FIRMWARE, ReleaseRoot, UpdateAgent } from '../updates/index.js';
import { Uplink } from '../uplink/index.js';
import { TerminalSide } from './terminal-stations.js';

/** The version of this build: the gateway's package.json, which a release's builder stamps. */
export const FIRMWARE_VERSION = FIRMWARE.version;

/** The exit code with which the gateway asks its service manager to start it again (a new release, a rollback). */
export const RESTART_EXIT_CODE = 75;

/** The longest the start waits for its first record to be durable, and each stop step for its part. */
const START_FLUSH_MS = 2_000;
const STOP_STEP_MS = 1_500;

/** `work`, or a rejection once `ms` have passed without it settling. */
function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The Node flags the gateway service runs with (main.ts's shebang and the systemd unit say the same).
 * A young generation bounded at 4 MB keeps the heap of a 100,000-card roster under 150 MB of RSS on a
 * 1 GB Raspberry Pi; the tap path allocates little, so the extra scavenges cost nothing measurable.
 */
export const GATEWAY_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

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
  private control: ControlServer | undefined;
  private metricsServer: MetricsServer | undefined;
  private terminalSide: TerminalSide | undefined;
  /** The library catalogue: only a library desk holds one. */
  private catalogue: CatalogueStore | undefined;
  /** The hotlist and the plan of class visits: only a venue holds them. */
  private venueData: VenueData | undefined;
  private stopping = false;
  /** Files in quarantine folders, as found once every store has opened. */
  private quarantined: Quarantined[] = [];
  private readonly startedAt = new Date().toISOString();
  private keyId: string | undefined;
  private updates: UpdateAgent | undefined;
  /** The readers seen, with the direction their binding gives (undefined: no binding, cards ignored). */
  private readonly directionOf = new Map<string, Direction | undefined>();
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
    readonly station: DoorStation,
    readonly metrics: GatewayMetrics,
  ) {}

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config } = options;
    const logger = options.logger ?? createLogger('gateway', { level: config.log.level });
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
    const settings = config.station;
    const trustedNow = () => Math.max(clock.now(), clock.floor);
    const venueData =
      settings.type === 'venue' ? await openVenueData(config, roster, logger, trustedNow) : undefined;
    const station: DoorStation =
      settings.type === 'venue' && venueData
        ? new VenueStation({
            config: settings,
            trust: () => ({
              issuers: roster.keySetChain.at(-1)?.cardIssuerKeys ?? new Map(),
              hotlist: venueData.hotlist.view,
            }),
            plan: () => venueData.plan.view,
            clock,
            actions: io,
            journal,
            logger,
          })
        : new GateStation({
            config: settings,
            policy: config.policy,
            roster: () => roster.view,
            clock,
            actions: io,
            journal,
            passback: new PassbackState(),
            logger,
          });
    await station.start?.();
    const readers = options.readers ?? readerDriverFor(config, logger);
    const gateway = new Gateway(config, logger, clock, journal, roster, io, readers, station, metrics);
    started = gateway;
    gateway.venueData = venueData;
    gateway.wire();
    gateway.terminalSide = await gateway.startTerminalSide();
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
    await gateway.startUplink();
    await readers.start();
    await gateway.startControl();
    await gateway.startMetrics();
    await gateway.updates?.start();
    gateway.playConfiguredScript();
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

  /** Appends an event stamped with the clock: for events that are not taps. */
  record(event: Omit<EventBody, 'at' | 'clock'>): EventRecord {
    const reading = this.clock.read();
    return this.journal.append({
      ...event,
      at: new Date(reading.now).toISOString(),
      ...this.clock.stamp(reading),
    } as EventBody);
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
    const hotlist = this.venueData?.hotlist;
    if (!hotlist) throw new Error('only a venue holds a hotlist');
    try {
      const result = await hotlist.accept(manifest, body);
      if (result.status === 'applied') {
        const { version, kind, entries } = result;
        this.record({ type: 'hotlist.applied', data: { version, kind, entries } });
      }
      return result;
    } catch (error) {
      if (error instanceof RosterRejected)
        this.record({ type: 'hotlist.rejected', data: { reason: error.message.slice(0, 512) } });
      throw error;
    }
  }

  /** The venue's hotlist and plan, when this gateway is a venue. */
  get venue(): VenueData | undefined {
    return this.venueData;
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
    };
  }

  /**
   * The device's storage for `educard status` and doctor: the disk, what waits in memory and what
   * was lost, the files kept in quarantine and the newest loss the journal explains.
   */
  storageReport() {
    const journal = this.journal.stats();
    const damage = this.roster.damage;
    return {
      diskLow: journal.diskLow,
      diskFull: journal.diskFull,
      freeBytes: journal.freeBytes ?? null,
      lastWriteError: journal.lastWriteError ?? null,
      held: journal.held,
      maxHeld: journal.maxHeld,
      lost: journal.lost,
      quarantined: this.quarantined,
      lastDamage: journal.lastBreak ?? null,
      damagedNow: journal.damagedNow ?? null,
      notes: [
        ...journal.notes,
        ...(this.clock.damaged
          ? [`clock.json ${this.clock.damaged}: the time floor was rebuilt from the journal`]
          : []),
        ...(damage
          ? [
              `roster files damaged: ${damage.usedVersion ? `version ${damage.usedVersion} in force` : 'no roster in force'}${this.roster.wantsFresh ? ', a fresh snapshot is asked for at each connection' : ', a fresh one has arrived since'}`,
            ]
          : []),
      ],
    };
  }

  /** Everything `educard status` shows: one screen on the device's health. */
  report() {
    const { config, clock } = this;
    const view = this.roster.view;
    const journal = this.journal.stats();
    const reading = clock.read();
    return {
      device: { id: config.device.id, school: config.device.school, keyId: this.keyId },
      station: { id: config.station.id, type: config.station.type, zone: config.station.zone },
      firmware: FIRMWARE_VERSION,
      pid: process.pid,
      startedAt: this.startedAt,
      roster: view
        ? {
            version: view.version,
            cards: view.size,
            issuedAt: new Date(view.issuedAt).toISOString(),
            expiresAt: new Date(view.expiresAt).toISOString(),
            expired: view.expiresAt <= reading.now,
            keySetVersion: this.roster.keySetVersion,
          }
        : null,
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
      ...(this.venueData ? { venue: this.venueReport(reading.now) } : {}),
      update: this.updates?.status() ?? null,
      io: this.io.status(),
      clock: {
        now: new Date(reading.now).toISOString(),
        trusted: reading.trusted,
        synced: clock.synced(),
        source: clock.source(),
        rtc: clock.rtc() ?? null,
        floor: new Date(clock.floor).toISOString(),
      },
      lastTaps: this.terminalSide
        ? this.terminalSide.recentTaps().map((tap) => ({
            at: tap.at,
            card: tap.card,
            ...(tap.patron ? { personId: tap.patron.personId } : {}),
            decision: tap.decision,
            reason: tap.reason,
            reader: tap.reader,
          }))
        : this.station.recentTaps(),
    };
  }

  /** What a venue holds: its hotlist, its plan and its day so far. */
  private venueReport(now: number) {
    const { hotlist, plan } = this.venueData as VenueData;
    const list = hotlist.view;
    return {
      hotlist: list
        ? {
            version: list.version,
            entries: list.table.size,
            bytes: list.table.byteLength,
            expiresAt: new Date(list.expiresAt).toISOString(),
            expired: list.expiresAt <= now,
          }
        : null,
      plan: plan.view ? { version: plan.view.version, visits: plan.view.size } : null,
      today: (this.station as VenueStation).status(),
      cardIssuers: [...(this.roster.keySetChain.at(-1)?.cardIssuerKeys.keys() ?? [])],
    };
  }

  /** The library desk or computer room this gateway runs, if it is not a gate. */
  get terminalStation(): TerminalStation | undefined {
    return this.terminalSide?.station;
  }

  /** The terminal broker's and the pages' addresses, when they run. */
  get terminalPorts(): { tcp?: number; ws?: number; pages?: string } {
    const side = this.terminalSide;
    return {
      ...(side?.hub?.ports.tcp !== undefined ? { tcp: side.hub.ports.tcp } : {}),
      ...(side?.hub?.ports.ws !== undefined ? { ws: side.hub.ports.ws } : {}),
      ...(side?.pages ? { pages: side.pages.url } : {}),
    };
  }

  /** What the terminals' pages hear of this gateway: its link to the bridge, its data, its station. */
  localState(): LocalGatewayState {
    const uplink = this.uplinkValue?.status();
    const { config } = this;
    return {
      v: SPEC_VERSION,
      device: config.device.id,
      school: config.device.school,
      online: uplink?.connected ?? false,
      backlog: this.journal.stats().backlog,
      rosterVersion: this.roster.view?.version ?? 0,
      ...(this.catalogue?.view ? { catalogueVersion: this.catalogue.view.version } : {}),
      stations: [{ id: config.station.id, kind: config.station.type }],
      at: new Date(this.clock.now()).toISOString(),
    };
  }

  /**
   * Stops every part in reverse order, each within a bound: a peer that never answers or a disk that
   * takes no writes never holds a stop past a few seconds. What the journal could not make durable is
   * logged and written (journal.close).
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const step = async (what: string, work: () => Promise<unknown> | undefined, ms = STOP_STEP_MS) => {
      try {
        await within(ms, Promise.resolve(work()));
      } catch (error) {
        this.logger.warn({ step: what, err: (error as Error).message }, 'stop step cut short');
      }
    };
    this.updates?.stop();
    await step('metrics', () => this.metricsServer?.stop());
    await step('control', () => this.control?.stop());
    await step('uplink', () => this.uplinkValue?.stop());
    await step('readers', () => this.readers.stop());
    await step('terminals', () => this.terminalSide?.stop());
    await step('io', () => this.io.stop());
    await step('journal', () => this.journal.close(), this.config.journal.stopWaitMs + STOP_STEP_MS);
    await step('clock', () => this.clock.persist());
    const { held, lost } = this.journal.stats();
    this.logger.info({ unsaved: held, lost }, 'gateway stopped');
  }

  /** A library desk or a computer room: its station, and the broker and pages its terminals use. */
  private async startTerminalSide(): Promise<TerminalSide | undefined> {
    const { config, logger, clock, journal, roster } = this;
    const settings = config.station;
    let station: TerminalStation;
    switch (settings.type) {
      case 'gate':
      case 'venue':
        return undefined;
      case 'lab':
        station = new LabStation({
          config: settings,
          roster: () => roster.view,
          people: (personId) => roster.view?.byPersonId(personId),
          clock,
          journal,
          policy: config.policy,
          logger: logger.child({ station: settings.id }),
        });
        break;
      case 'library': {
        const catalogue = await CatalogueStore.open({
          dir: join(config.dataDir, 'catalogue'),
          school: config.device.school,
          logger,
          keySets: () => trustedKeySets(join(config.dataDir, 'roster')),
          now: () => Math.max(clock.now(), clock.floor),
        });
        this.catalogue = catalogue;
        station = new LibraryStation({
          config: settings,
          device: config.device.id,
          dataDir: join(config.dataDir, 'library'),
          roster: () => roster.view,
          catalogue: () => catalogue.view,
          clock,
          journal,
          policy: config.policy,
          logger: logger.child({ station: settings.id }),
          backend: libraryBackendFor(settings.sip2, {
            dataDir: join(config.dataDir, 'library'),
            station: settings.id,
            logger: logger.child({ station: settings.id }),
            now: () => clock.now(),
          }),
        });
        break;
      }
    }
    return TerminalSide.start({ config, station, state: () => this.localState(), logger });
  }

  private async startControl(): Promise<void> {
    this.control = new ControlServer({
      path: controlSocketPath(this.config),
      logger: this.logger,
      handlers: {
        status: () => this.report(),
        'readers.list': () => this.readers.readers(),
        'io.test': (params) => this.testIo(params.parts),
        'update.status': () => this.updates?.status() ?? null,
        'update.commit': () => this.updateAgent().commitNow(),
        'update.rollback': () => this.updateAgent().rollbackNow(),
      },
      streams: {
        'taps.watch': (emit) =>
          this.station.events.on('tap', ({ decision, record }) =>
            emit({
              at: record.at,
              seq: record.seq,
              reader: (record.data as { reader: string }).reader,
              card: maskCardId(decision.cardId),
              ...(decision.card ? { personId: decision.card.personId } : {}),
              decision: decision.decision,
              reason: decision.reason,
            }),
          ),
      },
    });
    await this.control.start();
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
      now: () => clock.now(),
    });
    if (!config.metrics) return;
    this.metricsServer = new MetricsServer(config.metrics, this.metrics, this.logger);
    await this.metricsServer.start();
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
    return this.terminalSide?.station.busy?.();
  }

  /** The update agent, on a gateway installed in a release root (docs/updates.md). */
  private async prepareUpdates(): Promise<void> {
    const { config, logger } = this;
    const root = new ReleaseRoot(config.update.root);
    if (!(await root.installed())) {
      logger.info({ root: config.update.root }, 'not installed in a release root: software updates are off');
      return;
    }
    const uplink = config.uplink;
    this.updates = new UpdateAgent({
      config: config.update,
      root,
      logger: logger.child({ component: 'update' }),
      now: () => this.clock.now(),
      keySet: () => this.roster.keySet,
      record: (event) => this.record(event),
      flush: () => this.journal.flush(),
      report: (progress) => this.uplinkValue?.publishProgress(progress),
      source: (files) =>
        uplink
          ? bridgeSource(new URL(files.endsWith('/') ? files : `${files}/`, uplink.bridgeHttp), uplink)
          : undefined,
      busy: () => this.busy(),
      baseline: () => ({
        readers: this.boundReaders(),
        uplink: this.uplinkValue?.status().connected ?? false,
        rosterVersion: this.roster.view?.version ?? 0,
        lastSeq: this.journal.stats().lastSeq,
      }),
      live: () => ({
        readers: this.boundReaders(),
        uplink: this.uplinkValue?.status().connected ?? false,
        roster: this.roster.view,
        verifyJournal: async () => {
          const result = await this.journal.verify();
          return result.ok
            ? { ok: true, lastSeq: this.journal.stats().lastSeq }
            : { ok: false, problem: result.problem };
        },
        zone: config.station.zone,
        policy: config.policy,
      }),
      restart: (why) => {
        logger.info({ why }, 'restarting into the release in force');
        this.askRestart(why);
      },
    });
  }

  /** Pulses the relay, lights the LEDs and sounds the buzzer on a technician's request; journaled when the door opens. */
  private testIo(requested: unknown): IoTestPart[] {
    const parts = Array.isArray(requested) && requested.length > 0 ? requested : [...IO_TEST_PARTS];
    const unknown = parts.filter((part) => !(IO_TEST_PARTS as readonly unknown[]).includes(part));
    if (unknown.length > 0)
      throw new Error(`unknown IO part(s): ${unknown.join(', ')}; choose from ${IO_TEST_PARTS.join(', ')}`);
    const done = this.io.selfTest(parts as IoTestPart[]);
    if (done.includes('relay')) {
      this.record({
        type: 'door.remote-open',
        data: {
          station: this.config.station.id,
          zone: this.config.station.zone,
          seconds: 1,
          command: 'educard test-io',
        },
      });
    }
    this.logger.info({ parts: done }, 'IO self-test');
    return done;
  }

  private async startUplink(): Promise<void> {
    const { config } = this;
    if (!config.uplink) return;
    const identity = await loadOrCreateIdentity(resolve(config.dataDir, config.identity.keyFile));
    this.keyId = identity.keyId;
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
      logger: this.logger,
      ...(this.catalogue ? { catalogue: catalogueFeed(this.catalogue) } : {}),
      ...(this.venueData ? { venue: this.venueFeed(this.venueData) } : {}),
      ...(this.updates ? { updates: this.updates } : {}),
    });
    await this.uplinkValue.start();
  }

  /** What the uplink needs of a venue: where to hand a newer hotlist or plan, and the versions held. */
  private venueFeed({ hotlist, plan }: VenueData) {
    return {
      hotlist: {
        accept: (manifest: Uint8Array, body: HotlistBodySource) => this.acceptHotlist(manifest, body),
        version: () => hotlist.version,
      },
      plan: {
        accept: (manifest: Uint8Array, body: Uint8Array) => plan.accept(manifest, body),
        version: () => plan.view?.version ?? 0,
      },
    };
  }

  /** The commands that act on the gateway itself; the uplink handles resend and roster reload. */
  private async runCommand(command: Command): Promise<Record<string, unknown> | undefined> {
    switch (command.name) {
      case 'door.open':
        this.io.grant(command.args.seconds * 1000);
        this.record({
          type: 'door.remote-open',
          data: {
            station: this.config.station.id,
            zone: this.config.station.zone,
            seconds: command.args.seconds,
            command: command.id,
          },
        });
        return undefined;
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
    const { readers, io, logger, config } = this;
    const bindings = config.readers.bindings.map((b) => ({
      pattern: new RegExp(b.pattern),
      direction: b.direction,
    }));
    const directionOf = this.directionOf;
    const faultJournaledAt = new Map<string, number>();
    readers.events.on('reader-added', ({ reader }) => {
      const binding = bindings.find((b) => b.pattern.test(reader));
      directionOf.set(reader, binding?.direction);
      if (!binding) {
        logger.warn({ reader }, 'reader matches no binding; its cards are ignored');
        return;
      }
      logger.info({ reader, direction: binding.direction }, 'reader bound');
      // Journaled at start too: a reader unplugged before a restart is back, and the bridge clears
      // its alarm, though this run never saw it go.
      this.record({ type: 'reader.connected', data: { reader } });
    });
    readers.events.on('reader-removed', ({ reader }) => {
      const bound = directionOf.get(reader) !== undefined;
      directionOf.delete(reader);
      if (this.stopping) logger.info({ reader }, 'reader released');
      else {
        logger.warn({ reader }, 'reader removed');
        if (bound) this.record({ type: 'reader.lost', data: { reader } });
      }
    });
    readers.events.on('error', ({ reader, message }) => {
      logger.error({ reader, message }, 'reader error');
      this.metrics.readerError();
      // A driver failing in a loop journals its fault once a minute, not once a poll.
      const key = `${reader ?? ''}\0${message}`;
      const now = performance.now();
      if (now - (faultJournaledAt.get(key) ?? Number.NEGATIVE_INFINITY) < 60_000) return;
      faultJournaledAt.set(key, now);
      this.record({
        type: 'reader.fault',
        data: { ...(reader ? { reader } : {}), message: message.slice(0, 512) },
      });
    });
    readers.events.on('card', (card: CardPresented) => {
      const direction = directionOf.get(card.reader);
      if (direction === undefined) return;
      if (this.terminalSide) {
        const tap = this.terminalSide.tap(card, { name: card.reader, direction });
        if (tap) this.metrics.tap(tap.decision, tap.reason, (performance.now() - card.detectedAt) / 1000);
        return;
      }
      const outcome = this.station.tap(card, { name: card.reader, direction });
      if (!outcome) return;
      const { decision } = outcome.decision;
      this.metrics.tap(decision, outcome.decision.reason, (outcome.actedAt - card.detectedAt) / 1000);
      const { seq } = outcome.record;
      this.journal.durable(seq).then(
        () => logger.debug({ seq }, 'tap durable'),
        // The journal logs a disk that takes no writes once, and counts what it holds and loses.
        (error: unknown) => logger.debug({ seq, err: (error as Error).message }, 'tap not yet durable'),
      );
    });
    // A book's tag: at a library desk, what its scanner would have typed; nothing anywhere else.
    readers.events.on('item', ({ reader, itemId }) => {
      if (directionOf.get(reader) === undefined) return;
      const at = new Date(this.clock.now()).toISOString();
      if (!this.terminalSide?.item(reader, itemId, at))
        logger.info({ reader, itemId }, 'tagged item ignored: only a library desk takes one');
    });
    const zone = config.station.zone;
    const station = config.station.id;
    io.events.on('door-forced', () =>
      this.record({ type: 'door.forced', data: { station, zone, openForMs: 0 } }),
    );
    io.events.on('door-held-open', ({ openForMs }) =>
      this.record({ type: 'door.held-open', data: { station, zone, openForMs } }),
    );
    io.events.on('exit-request', () => this.record({ type: 'door.exit-request', data: { station, zone } }));
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

export interface VenueData {
  hotlist: HotlistStore;
  plan: VenuePlanStore;
}

/** A venue's hotlist and plan, verified by the key sets the roster store trusts. */
async function openVenueData(
  config: GatewayConfig,
  roster: RosterStore,
  logger: Logger,
  now: () => number,
): Promise<VenueData> {
  const hotlist = await HotlistStore.open({
    dir: join(config.dataDir, 'hotlist'),
    logger,
    keySets: () => roster.keySetChain,
    now,
  });
  const plan = await VenuePlanStore.open({
    dir: join(config.dataDir, 'venue-plan'),
    school: config.device.school,
    logger,
    keySets: async () => roster.keySetChain,
    now,
  });
  return { hotlist, plan };
}

/** What the uplink needs of a library desk's catalogue: where to hand a newer one, and the version held. */
function catalogueFeed(catalogue: CatalogueStore) {
  return {
    accept: (manifest: Uint8Array, body: CatalogueBodySource) => catalogue.accept(manifest, body),
    version: () => catalogue.view?.version ?? 0,
  };
}

function readerDriverFor(config: GatewayConfig, logger: Logger): ReaderDriver {
  const { readers } = config;
  return readers.driver === 'pcsc'
    ? new PcscReaderDriver({
        logger: logger.child({ component: 'pcsc' }),
        ...readers.pcsc,
        // A venue has no roster to tell a UID copy of a CPU card by: it remembers genuine cards' UIDs.
        cpuCardUid: config.station.type === 'venue',
      })
    : new SimulatedReaderDriver(readers.simulated, logger);
}
