import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Command,
  type Direction,
  type EventBody,
  type EventRecord,
  type LocalGatewayState,
  SPEC_VERSION,
} from '@educard/terminal-sdk';
import { type CatalogueBodySource, CatalogueStore, trustedKeySets } from '../catalogue/index.js';
import { TrustedClock } from '../clock/index.js';
import { controlSocketPath, type GatewayConfig } from '../config/index.js';
import { ControlServer } from '../control/index.js';
import { loadOrCreateIdentity } from '../identity/index.js';
import { GateActuators, IO_TEST_PARTS, type IoTestPart } from '../io/index.js';
import { Journal } from '../journal/index.js';
import { createLogger, type Logger, maskCardId } from '../log/index.js';
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
  GateStation,
  LabStation,
  LibraryStation,
  libraryBackendFor,
  type TerminalStation,
} from '../stations/index.js';
import { listQuarantined, type Quarantined } from '../storage/index.js';
import { Uplink } from '../uplink/index.js';
import { TerminalSide } from './terminal-stations.js';

export const FIRMWARE_VERSION = '0.1.0';

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
  private terminalSide: TerminalSide | undefined;
  /** The library catalogue: only a library desk holds one. */
  private catalogue: CatalogueStore | undefined;
  private stopping = false;
  /** Files in quarantine folders, as found once every store has opened. */
  private quarantined: Quarantined[] = [];
  private readonly startedAt = new Date().toISOString();
  private keyId: string | undefined;

  private constructor(
    readonly config: GatewayConfig,
    readonly logger: Logger,
    readonly clock: TrustedClock,
    readonly journal: Journal,
    readonly roster: RosterStore,
    readonly io: GateActuators,
    readonly readers: ReaderDriver,
    readonly station: GateStation,
  ) {}

  static async start(options: GatewayOptions): Promise<Gateway> {
    const { config } = options;
    const logger = options.logger ?? createLogger('gateway', { level: config.log.level });
    logger.info({ device: config.device.id, firmware: FIRMWARE_VERSION }, 'gateway starting');
    const rosterDir = join(config.dataDir, 'roster');
    const journalDir = join(config.dataDir, 'journal');
    await mkdir(rosterDir, { recursive: true });
    await mkdir(journalDir, { recursive: true });

    const clock = await TrustedClock.open({
      dataDir: config.dataDir,
      logger,
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
    });
    // A damaged clock.json: the device has surely seen the time of its newest journal record.
    if (clock.damaged && journal.newestAt) await clock.restoreFloor(Date.parse(journal.newestAt));
    const roster = await RosterStore.open({
      dir: rosterDir,
      school: config.device.school,
      device: config.device.id,
      logger,
      now: () => Math.max(clock.now(), clock.floor),
    });
    const io = new GateActuators({ config: config.io, logger, ...(options.io ? { io: options.io } : {}) });
    await io.start();
    const station = new GateStation({
      config: config.station,
      policy: config.policy,
      roster: () => roster.view,
      clock,
      actions: io,
      journal,
      passback: new PassbackState(),
      logger,
    });
    const readers = options.readers ?? readerDriverFor(config, logger);
    const gateway = new Gateway(config, logger, clock, journal, roster, io, readers, station);
    started = gateway;
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
    await gateway.startUplink();
    await readers.start();
    await gateway.startControl();
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
      clock: this.clock.stamp(reading),
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
      io: this.io.status(),
      clock: {
        now: new Date(reading.now).toISOString(),
        trusted: reading.trusted,
        synced: clock.synced(),
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
    });
    await this.uplinkValue.start();
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
    const directionOf = new Map<string, Direction | undefined>();
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
        this.terminalSide.tap(card, { name: card.reader, direction });
        return;
      }
      const outcome = this.station.tap(card, { name: card.reader, direction });
      if (!outcome) return;
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
    ? new PcscReaderDriver({ logger: logger.child({ component: 'pcsc' }), ...readers.pcsc })
    : new SimulatedReaderDriver(readers.simulated, logger);
}
