import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BrokerNodes, endMqttClient, Teardown } from '@educard/terminal-sdk';
import mqtt, { type MqttClient } from 'mqtt';
import { type Logger, pino } from 'pino';
import { Accounts, AuditLog, accountRoutes, sessionResolver, sessionRoutes } from '../accounts/index.js';
import { Attendance, attendanceRoutes } from '../attendance/index.js';
import { EmbeddedBroker, externalDeviceAccounts } from '../broker/index.js';
import { CentralService, ChangeApplier, centralRoutes } from '../central/index.js';
import { CommandSender } from '../commands/index.js';
import type { BridgeConfig } from '../config/index.js';
import { authenticateDevice } from '../devices/index.js';
import { Directory } from '../directory/index.js';
import { BodyGrants } from '../grants/index.js';
import { buildHttpApi } from '../http/index.js';
import { DevicePartitions, Ingest } from '../ingest/index.js';
import { Duties, type Duty, LeaseTable } from '../leases/index.js';
import {
  booksOutReader,
  CatalogueService,
  LoanLedger,
  libraryOverdueSources,
  overdueList,
} from '../library/index.js';
import { Lockdowns, lockdownRoutes } from '../lockdown/index.js';
import { BridgeMetrics, metricsRoutes } from '../metrics/index.js';
import { Notices, noticesRoutes } from '../notices/index.js';
import { ALARM_KINDS, LiveRelay, Operations, opsRoutes } from '../ops/index.js';
import { Leavers, PersonPseudonyms, PersonUnknown, privacyRoutes, ReadAudit } from '../privacy/index.js';
import { Releases, releaseFileRoutes, releaseRoutes } from '../releases/index.js';
import { RETENTION_LEASE, Retention } from '../retention/index.js';
import { Rollouts, rolloutRoutes } from '../rollouts/index.js';
import { RosterKeyring, RosterService } from '../roster/index.js';
import { type BadRowSink, type BridgeStore, openPostgresStore, openSqliteStore } from '../store/index.js';
import { DeviceSync } from '../sync/index.js';
import { TransferLog, transferRoutes } from '../transfers/index.js';
import { forgetBookingsBefore, Venues, venuesPublicRoutes, venuesRoutes } from '../venues/index.js';
import { servePages } from '../web/index.js';
import { watchSubscriptions } from './subscriptions.js';
import { BRIDGE_VERSION } from './version.js';

export { BRIDGE_VERSION };

/**
 * The cloud bridge: the store and the concerns that follow its events as they are committed
 * (operations, attendance, notices, the central outbox), the broker (embedded or external), ingest,
 * the roster and catalogue services, the HTTP API with the pages, then its duties (the central sync,
 * the notice deliveries, the alarm checks, ...: each under a lease when instances share a
 * PostgreSQL store); stopped in reverse. The bridge reaches even its embedded broker as an ordinary
 * MQTT client, so the ingest path is the same whatever broker a district runs.
 */
export class Bridge {
  private constructor(
    readonly config: BridgeConfig,
    readonly logger: Logger,
    readonly store: BridgeStore,
    readonly directory: Directory,
    readonly broker: EmbeddedBroker | undefined,
    /** The broker's nodes as this bridge reaches them: the embedded broker's one, or the cluster's. */
    readonly brokerNodes: BrokerNodes,
    readonly client: MqttClient,
    readonly ingest: Ingest,
    readonly http: ReturnType<typeof buildHttpApi>,
    readonly central: CentralService,
    readonly attendance: Attendance,
    readonly notices: Notices,
    readonly audit: AuditLog,
    readonly accounts: Accounts,
    readonly ops: Operations,
    readonly roster: RosterService,
    readonly catalogue: CatalogueService,
    readonly venues: Venues,
    readonly metrics: BridgeMetrics,
    readonly releases: Releases,
    readonly rollouts: Rollouts,
    readonly retention: Retention,
    readonly leavers: Leavers,
    readonly reads: ReadAudit,
    /** The singleton work, and the devices' partitions when instances share a broker without $share. */
    readonly duties: Duties[],
  ) {}

  /**
   * Starts every part in order, each noting how it stops; a part that fails to start stops the
   * parts before it (newest first), and the start rejects with its error.
   */
  static async start(
    config: BridgeConfig,
    logger: Logger = pino({ name: 'bridge', level: config.log.level }),
    /** The clock of sessions and alarms; tests move it. */
    now: () => Date = () => new Date(),
  ): Promise<Bridge> {
    const started = new Teardown(logger);
    try {
      return await Bridge.startParts(config, logger, now, started);
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'bridge start failed; stopping what had started');
      await started.run();
      throw error;
    }
  }

  private static async startParts(
    config: BridgeConfig,
    logger: Logger,
    now: () => Date,
    started: Teardown,
  ): Promise<Bridge> {
    await mkdir(config.dataDir, { recursive: true });
    // Made first: the parts below count into it as they work.
    const metrics = new BridgeMetrics(BRIDGE_VERSION);
    const store = config.store
      ? openPostgresStore(config.store.url, {
          ...(config.store.statementTimeoutMs ? { statementTimeoutMs: config.store.statementTimeoutMs } : {}),
        })
      : openSqliteStore(join(config.dataDir, 'bridge.db'), { logger });
    started.add('store', () => store.close());
    // On PostgreSQL other instances may share the store: singleton work runs under leases, and on a
    // broker without shared subscriptions each instance takes the devices of the partitions it holds.
    const shared = config.store !== undefined;
    const instance = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const partitions =
      shared && !config.mqtt.embedded && !config.mqtt.shareGroup
        ? new DevicePartitions(config.cluster.partitions)
        : undefined;
    const owns = partitions && ((device: string) => partitions.owns(device));
    const directory = new Directory(store.database, () => now().getTime());
    const transfers = new TransferLog(store.database);
    const audit = new AuditLog(store.database, logger, now);
    const accounts = new Accounts({ db: store.database, audit, logger, settings: config.accounts, now });
    const ledger = new LoanLedger(store);
    // Operations (alarms, the live stream) and attendance (gate passages) project the events
    // as they are committed: they are made before ingest starts, so they see every one.
    const keys = await RosterKeyring.open(config.dataDir, now);
    keys.follower = {
      taken: (version) =>
        logger.info({ version }, 'roster key set committed by another instance taken: signing under it'),
      unreadable: (message) =>
        logger.error({ err: message }, 'roster key file changed and cannot be read: the keys in force stay'),
    };
    const ops = new Operations({
      store,
      directory,
      transfers,
      ledger,
      logger,
      settings: config.ops,
      now,
      keySet: () => keys.latest,
    });
    const attendance = new Attendance({
      store,
      directory,
      transfers,
      defaultTimeZone: config.attendance.defaultTimeZone,
      logger,
      now: () => now().getTime(),
    });
    // A stored row the bridge cannot use is skipped, logged and raised: it never keeps the bridge down.
    const onBadRow: BadRowSink = (row) => {
      logger.error(row, 'stored row skipped: the bridge cannot use it');
      ops.raise({ kind: ALARM_KINDS.dataInvalid, message: `${row.what} ${row.key}: ${row.problem}` });
    };
    const credentials = {
      username: `bridge-${randomBytes(4).toString('hex')}`,
      password: randomBytes(24).toString('base64url'),
    };
    const broker = config.mqtt.embedded
      ? await EmbeddedBroker.start({
          host: config.mqtt.host,
          port: config.mqtt.port,
          ...(config.mqtt.wsPort !== undefined ? { wsPort: config.mqtt.wsPort } : {}),
          authenticateDevice: (username, password) => authenticateDevice(store, username, password),
          bridgeCredentials: credentials,
          limits: config.mqtt.limits,
          logger,
        })
      : undefined;
    if (broker) started.add('broker', () => broker.stop());
    const deviceAccounts = broker ?? (await externalDeviceAccounts(config.mqtt, store.database, logger));
    // Not fatal: the accounts are in the database and the nodes hold what was last written (by this
    // instance or another); a node slow to reload (restarting, busy taking sessions back) must not keep
    // the bridge down. The next enrollment or revocation writes and reloads again.
    await deviceAccounts
      .reconcile(
        store
          .listDevices()
          .filter((d) => !d.revokedAt)
          .map((d) => ({ device: d.id, school: d.school })),
      )
      .catch((error: unknown) =>
        logger.error(
          { err: (error as Error).message },
          'broker accounts not reconciled at start: the next enrollment or revocation tries again',
        ),
      );
    const nodes = broker
      ? new BrokerNodes(`mqtt://${config.mqtt.host}:${broker.port}`)
      : new BrokerNodes(config.mqtt.url as string, config.mqtt.failover);
    const client = await mqtt.connectAsync(nodes.first, {
      clientId: credentials.username,
      clean: true,
      reconnectPeriod: 1000,
      ...(broker ? credentials : { username: config.mqtt.username, password: config.mqtt.password }),
    });
    started.add('mqtt', () => endMqttClient(client));
    // What devices are told at enrollment; unset, they publish at their default, 1.
    const deviceBatchQos =
      config.mqtt.deviceBatchQos ?? (config.mqtt.deviceAccounts?.kind === 'nats' ? 0 : undefined);
    const subscriptions = watchSubscriptions(client, {
      withinMs: config.mqtt.subscribeTimeoutMs,
      // The probe takes the devices' path: on NATS a QoS 0 publish and a QoS 1 one reach the
      // bridge's subscription by different ways (core NATS, a JetStream consumer).
      probeQos: deviceBatchQos ?? 1,
      // The embedded broker is in this process; under $share/ a probe reaches one instance of the group.
      probeEveryMs: broker || config.mqtt.shareGroup ? 0 : config.mqtt.probeEveryMs,
      logger: logger.child({ component: 'broker' }),
    });
    started.add('subscriptions', () => subscriptions.stop());
    let lostAt: number | undefined;
    client.on('close', () => {
      // Before mqtt.js's reconnection timer: each attempt goes to the next node.
      const left = nodes.current;
      nodes.moveOn(client.options);
      if (lostAt !== undefined) return;
      lostAt = Date.now();
      logger.warn({ broker: left, next: nodes.current }, 'broker connection lost: reconnecting every second');
    });
    client.on('connect', () => {
      if (lostAt === undefined) return;
      logger.info({ broker: nodes.current, afterMs: Date.now() - lostAt }, 'broker connection back');
      lostAt = undefined;
    });
    const commands = new CommandSender({ client, keys, logger, now });
    const grants = new BodyGrants(store.database, now);
    // The venues' projection (visits per day) sees every event: it is made before ingest starts.
    const venues = new Venues({ store, client, keys, logger, grants, now });
    const roster = new RosterService({
      store,
      client,
      keys,
      logger,
      onBadRow,
      grants,
      now,
      onPublished: (school, _version, changed) => {
        ops.checkDates(school);
        venues.hotlist
          .rosterChanged(changed)
          .catch((error: unknown) => logger.error({ err: error, school }, 'hotlist not updated'));
      },
    });
    const catalogue = new CatalogueService({
      store,
      client,
      keys: roster.keys,
      logger,
      now,
      onBadRow,
      grants,
    });
    const timeZoneOf = attendance.zoneOf;
    const booksOut = booksOutReader(ledger, catalogue, timeZoneOf);
    const overdueSources = libraryOverdueSources({ ledger, catalogue, directory, store, timeZoneOf });
    const lockdowns = new Lockdowns({
      store,
      commands,
      alarms: ops.alarms,
      turnedAwaySince: attendance.turnedAwaySince,
      logger,
      now,
    });
    const notices = new Notices({
      store,
      directory,
      transfers,
      config: config.notices,
      attendance,
      overdueBooks: (school, at) => overdueList(overdueSources, school, at),
      lockedDown: lockdowns.lockedDown,
      logger,
      now: () => now().getTime(),
      onDelivery: metrics.onDelivery,
    });
    const sync = new DeviceSync({
      store,
      client,
      roster,
      catalogue,
      keySets: () => keys.keySetsMessage,
      hotlist: venues.hotlist,
      lockdown: lockdowns,
      logger,
    });
    const pseudonyms = new PersonPseudonyms({
      store,
      personKey: (school) => keys.personKey(school),
      logger,
      onUnresolved: metrics.onUnresolvedPseudonym,
    });
    const ingest = new Ingest({
      store,
      client,
      logger,
      ...(config.mqtt.shareGroup ? { shareGroup: config.mqtt.shareGroup } : {}),
      ...(owns ? { owns } : {}),
      commands,
      onState: ops.onDeviceState,
      onBatch: metrics.onBatch,
      retainAcks: config.mqtt.retainAcks,
      onBirth: (state) => sync.answer(state),
      resolvePeople: (school, records) => pseudonyms.resolve(school, records),
    });
    await ingest.start();
    if (shared && !broker) await LiveRelay.start({ client, ops, instance, logger });
    const releases = new Releases(store.database, config.dataDir, () => roster.keys.latest, now);
    const rollouts = new Rollouts({
      db: store.database,
      store,
      directory,
      releases,
      client,
      audit,
      config: config.rollouts,
      defaultTimeZone: config.attendance.defaultTimeZone,
      logger,
      now,
      ...(config.mqtt.shareGroup ? { shareGroup: config.mqtt.shareGroup } : {}),
      ...(owns ? { owns } : {}),
    });
    await rollouts.start();
    await venues.start();
    // The feed's records and transfers asked for through the API go to directory and rosters one way.
    const applier = new ChangeApplier({
      store,
      directory,
      roster,
      transfers,
      days: attendance,
      logger: logger.child({ component: 'transfers' }),
      now: () => now().getTime(),
    });
    const leavers = new Leavers({
      db: store.database,
      store,
      directory,
      cancelCard: (cardId) => roster.setStatus(cardId, 'cancelled'),
      forgetCards: (cards) => roster.forgetCards(cards),
      audit,
      logger: logger.child({ component: 'leavers' }),
      leaverDays: () => config.retention.leaverDays,
      now,
    });
    // Ingest runs already: the outbox takes in what was committed before it, in the step that attaches it.
    const central = new CentralService({
      config,
      store,
      directory,
      roster,
      applier,
      logger,
      onAlarm: ops.onAlarm,
      hotlist: venues.hotlist,
      findCard: (cardId) => store.findCard(cardId),
      onBadRow,
      exportAttendance: (school, date) => attendance.attendanceCsv(school, date),
      onLeft: async (personId) => {
        try {
          await leavers.remove(personId, { actor: 'central' });
        } catch (error) {
          // A person the bridge never held: nothing of theirs to remove.
          if (!(error instanceof PersonUnknown)) throw error;
        }
      },
    });
    // After the central connector: its outbox says which events the central system has not taken yet.
    const retention = new Retention({
      db: store.database,
      config: config.retention,
      central: config.central.mode,
      audit,
      logger: logger.child({ component: 'retention' }),
      now,
      forgetBookings: (cutoffOf) => forgetBookingsBefore(store.database, cutoffOf),
      forgetLoans: (cutoffOf, signal) => ledger.forgetReturned(cutoffOf, signal),
      // A version's body is fetched with a grant; once a newer one has been out longer than a grant
      // lasts, nothing can fetch the older.
      thinVersions: (at) => {
        const thinned = store.thinSupersededVersions(new Date(at.getTime() - grants.ttlMs).toISOString());
        return thinned.rosters + thinned.catalogues;
      },
      forgetAlarms: (before) => ops.alarms.forgetClearedBefore(before),
      forgetTokens: (at) => store.forgetSpentTokens(at.toISOString()),
      anonymise: () => leavers.anonymiseDue(),
      purgeAudit: (before, pace, signal) => audit.purgeBefore(before, pace, signal),
      onRun: metrics.onRetentionRun,
    });
    const reads = new ReadAudit({ audit, logger, now });
    const http = buildHttpApi({
      store,
      listening: config.http,
      roster,
      adminToken: config.adminToken,
      logger,
      mqttUrl: () => config.mqtt.publicUrl ?? nodes.first,
      // The bridge's own list only where devices are told the bridge's own URL.
      mqttFailover: () => config.mqtt.publicFailover ?? (config.mqtt.publicUrl ? [] : config.mqtt.failover),
      deviceBatchQos,
      accounts: deviceAccounts,
      onEnroll: (device, { newEpoch, previousSchool }) => {
        if (!newEpoch) return;
        const schools = new Set([device.school, ...(previousSchool ? [previousSchool] : [])]);
        for (const school of schools)
          ingest
            .withdrawAck(school, device.id)
            .catch((error: unknown) =>
              logger.error({ err: error, device: device.id }, "the old epoch's ack could not be withdrawn"),
            );
      },
      storeFailure: () => ingest.storeFailure,
      health: () => ({
        mqtt: client.connected,
        mqttHearing: subscriptions.granted(),
        ingest: ingest.stats,
        syncAnswers: sync.answered,
        ...(broker ? { broker: broker.stats } : {}),
      }),
      grants,
      commands,
      library: {
        catalogue,
        store,
        ledger,
        audit,
        directory,
        now,
        timeZoneOf,
        remindersOf: notices.overdueReminders,
      },
      schools: () => {
        const named = new Map(directory.schools().map((s) => [s.id, s.name]));
        const ids = new Set([...store.rosterSchools(), ...named.keys()]);
        return [...ids].sort().map((id) => ({ id, ...(named.has(id) ? { name: named.get(id) } : {}) }));
      },
      audit,
      resolvers: [sessionResolver(accounts)],
      publicRoutes: [
        (app) => sessionRoutes(app, accounts),
        ...(config.metrics.token ? [metricsRoutes(metrics, config.metrics.token)] : []),
        releaseFileRoutes(releases, config.releases, (username, password) =>
          authenticateDevice(store, username, password),
        ),
        venuesPublicRoutes(venues, grants),
      ],
      onKeysRotated: () => venues.reissueStale(),
      onCardChange: (change) => ops.recordCardChange(change),
      routes: [
        centralRoutes(central, audit),
        attendanceRoutes(attendance, directory, audit, notices),
        noticesRoutes(notices, audit),
        accountRoutes(accounts, audit),
        opsRoutes(ops, audit),
        venuesRoutes(venues, audit),
        transferRoutes((request) => applier.transfer(request), audit, booksOut),
        releaseRoutes(releases, audit, (version) => rollouts.inUse(version)),
        rolloutRoutes(rollouts, audit),
        lockdownRoutes(lockdowns, audit),
        privacyRoutes({
          sources: { store, ledger, catalogue, directory, transfers, audit },
          leavers,
          booksOut,
          audit,
          now,
        }),
        reads.hook(),
      ],
    });
    metrics.watch({
      devices: () => store.listDevices(),
      rosterHeld: (device) => ops.rosters.held(device),
      rosterLatest: (school) => ops.rosters.latest(school)?.version,
      openAlarms: () => ops.alarms.openByKind(),
      central: () => central.status(),
      notices: () => notices.status(),
      mqttConnected: () => client.connected,
      mqttHearing: () => subscriptions.granted(),
      dataDir: config.dataDir,
    });
    if (config.http.pages) await servePages(http);
    started.add('http', () => http.close());
    await http.listen({ host: config.http.host, port: config.http.port });
    // Work one instance at a time does, each a lease (docs/scale-out.md says why each is one).
    const singletons: Duty[] = [
      { name: 'central', start: () => central.start(), stop: () => central.stop() },
      { name: 'notices', start: () => notices.start(), stop: () => notices.stop() },
      { name: 'alarms', start: () => ops.start(), stop: () => ops.stopChecks() },
      { name: RETENTION_LEASE, start: () => retention.start(), stop: () => retention.stop() },
      { name: 'rollouts', start: () => rollouts.startTicks(), stop: () => rollouts.stop() },
      {
        name: 'manifests',
        start: async () => {
          await roster.start();
          await catalogue.start();
          await venues.startRenewals();
        },
        stop: () => {
          roster.stop();
          catalogue.stop();
          venues.stopRenewals();
        },
      },
    ];
    const leases = shared ? new LeaseTable(store.database) : undefined;
    const lease = { holder: instance, ttlMs: config.cluster.leaseTtlMs, logger };
    const singletonDuties = new Duties(leases, singletons, { ...lease, group: 'singletons' });
    started.add('duties', () => singletonDuties.stop());
    await singletonDuties.start();
    const duties = [singletonDuties];
    if (partitions) {
      // An instance cut off from the broker, or connected but not yet granted its subscriptions,
      // cannot ingest: its devices go to the others meanwhile.
      const ingestShare = new Duties(leases, partitions.duties(), {
        ...lease,
        group: 'ingest',
        ready: () => subscriptions.granted(),
      });
      started.add('ingest partitions', () => ingestShare.stop());
      await ingestShare.start();
      duties.push(ingestShare);
    }
    const bridge = new Bridge(
      config,
      logger,
      store,
      directory,
      broker,
      nodes,
      client,
      ingest,
      http,
      central,
      attendance,
      notices,
      audit,
      accounts,
      ops,
      roster,
      catalogue,
      venues,
      metrics,
      releases,
      rollouts,
      retention,
      leavers,
      reads,
      duties,
    );
    logger.info(
      {
        // Without what the URL may carry besides its node (credentials).
        mqtt: nodes.current,
        ...(nodes.count > 1 ? { brokerNodes: nodes.count } : {}),
        http: bridge.httpUrl,
        instance,
        duties: shared ? duties.flatMap((group) => group.holding) : 'all',
      },
      'bridge started',
    );
    return bridge;
  }

  get httpUrl(): string {
    const address = this.http.server.address() as AddressInfo;
    return `http://${this.config.http.host}:${address.port}`;
  }

  get mqttUrl(): string {
    return this.brokerNodes.first;
  }

  async stop(): Promise<void> {
    await Promise.all(this.duties.map((group) => group.stop()));
    this.ops.stop();
    await this.http.close();
    this.reads.flush();
    await endMqttClient(this.client);
    this.rollouts.flushProgress();
    await this.broker?.stop();
    this.store.close();
    this.logger.info('bridge stopped');
  }
}
