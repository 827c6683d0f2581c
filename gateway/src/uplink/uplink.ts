import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BrokerNodes,
  backoffDelay,
  type Command,
  type CommandResult,
  Command as CommandSchema,
  commandRefusal,
  DEVICE_DELIVERY_QOS,
  type DeviceState,
  EventAck,
  type EventRecord,
  endMqttClient,
  parseMessage,
  refusedSubscription,
  refusesFilter,
  SPEC_VERSION,
  SYNC_WANTS,
  SyncReply,
  signBatch,
  topics,
  type UpdateProgress,
} from '@educard/terminal-sdk';
import { Low } from 'lowdb';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { DurableJsonFile } from '../storage/index.js';
import type { UplinkDeps, UplinkStatus } from './deps.js';
import { SignedFeeds } from './feeds.js';

/** Command ids kept against replays: far more than a device is sent in the hour a command may live. */
const MAX_RAN_COMMANDS = 1000;

/** `uplink.json`: the birth sequence, and the ids of commands run and not yet expired. */
interface UplinkState {
  bdSeq: number;
  ranCommands?: Record<string, number>;
}

/** A birth's ask unanswered this long is asked again, then after twice as long, up to the maximum. */
const SYNC_RETRY_MS = 5000;
const SYNC_RETRY_MAX_MS = 300_000;
const STATE_EVERY_MS = 1000;

/**
 * Store-and-forward to the bridge over MQTT. Records leave the journal in order, in signed batches;
 * a record is dropped from the journal only once the bridge's ack covers it, and after any reconnect
 * or restart sending resumes from the last ack. The bridge deduplicates, so a batch sent twice is
 * harmless; a batch never acknowledged is sent again.
 */
export class Uplink {
  private client: MqttClient | undefined;
  private connected = false;
  /** Subscribed on this connection, so acks are heard: only then are batches sent. */
  private listening = false;
  /** When this connection was made: a broker that has not acknowledged its subscriptions in time is left. */
  private connectedAt = 0;
  private stopping = false;
  private nextSeq = 1;
  private inFlight: { to: number; sentAt: number }[] = [];
  /**
   * How many batches may be in flight: halved when the bridge reports a gap or an ack is late, grown
   * by one per ack, up to the configured limit. A broker that drops under load (Mosquitto past its
   * queue limit) would otherwise be flooded again with every resend.
   */
  private window = 1;
  private pumping = false;
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private reconnects = 0;
  private refusedAcks = 0;
  private lastError: string | undefined;
  private bdSeq = 0;
  private refusedCommands = 0;
  private readonly state: Low<UplinkState>;
  /** Writes of `uplink.json`, one after another: each writes the state as it stands then. */
  private saving: Promise<void> = Promise.resolve();
  private syncTimer: NodeJS.Timeout | undefined;
  /** Whether this connection's ask was answered; a bridge of the version before never answers. */
  private synced = false;

  private readonly stateFile: DurableJsonFile<{ bdSeq: number }>;
  private stateSentAt = Number.NEGATIVE_INFINITY;
  private stateTimer: NodeJS.Timeout | undefined;
  private readonly feeds: SignedFeeds;
  private readonly nodes: BrokerNodes;

  constructor(private readonly deps: UplinkDeps) {
    this.stateFile = new DurableJsonFile(join(deps.dataDir, 'uplink.json'), (value) =>
      Number.isSafeInteger((value as { bdSeq?: unknown } | null)?.bdSeq),
    );
    this.state = new Low(this.stateFile, { bdSeq: 0 });
    this.feeds = new SignedFeeds(deps);
    this.nodes = new BrokerNodes(deps.config.url, deps.config.failover);
  }

  async start(): Promise<void> {
    await this.state.read();
    this.bdSeq = this.state.data.bdSeq;
    if (this.stateFile.damaged) {
      // The bridge believes no birth older than the last it saw: go on from a number past any count.
      this.bdSeq = Math.max(this.bdSeq, Math.floor(Date.now() / 1000));
      this.deps.logger.error(
        {
          reason: this.stateFile.damaged.reason,
          quarantinedAs: this.stateFile.damaged.quarantinedAs,
          bdSeq: this.bdSeq,
        },
        'uplink.json was damaged: kept aside; the birth sequence goes on from the time in seconds',
      );
    }
    if (this.deps.roster.wantsFresh) void this.feeds.askForSnapshot();
    const options = await this.clientOptions();
    await this.nextBirth();
    options.will = this.will();
    const client = mqtt.connect(this.nodes.first, options);
    this.client = client;
    client.on('connect', () => this.onConnect());
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('close', () => this.onClose());
    client.on('error', (error) => {
      this.lastError = error.message;
      this.deps.logger.warn({ err: error.message }, 'uplink error');
    });
    this.timer = setInterval(() => this.tick(), this.deps.config.batch.maxDelayMs);
  }

  status(): UplinkStatus {
    return {
      connected: this.connected,
      nextSeq: this.nextSeq,
      ackedSeq: this.deps.journal.stats().ackedSeq,
      inFlight: this.inFlight.length,
      reconnects: this.reconnects,
      refusedAcks: this.refusedAcks,
      refusedCommands: this.refusedCommands,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Publishes the live state again (at most once a second): the storage it reports changed, and the
   * journal may be unable to say so itself.
   */
  refreshState(): void {
    if (this.stateTimer || this.stopping) return;
    const wait = Math.max(0, STATE_EVERY_MS - (performance.now() - this.stateSentAt));
    this.stateTimer = setTimeout(() => {
      this.stateTimer = undefined;
      if (!this.connected || this.stopping) return;
      this.publishState();
    }, wait);
  }

  private publishState(): void {
    this.stateSentAt = performance.now();
    this.client?.publish(
      topics.state(this.deps.school, this.deps.device),
      this.stateMessage(true),
      { qos: 1, retain: true },
      (error) => {
        if (error) this.deps.logger.warn({ err: error.message }, 'device state not published');
      },
    );
  }

  /** Says goodbye with a death message of this connection's bdSeq, then disconnects. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.stateTimer);
    clearInterval(this.timer);
    clearTimeout(this.reconnectTimer);
    this.feeds.stop();
    clearTimeout(this.syncTimer);
    const client = this.client;
    if (!client) return;
    // Left in flight: the end gives it its bounded time to be acknowledged before the goodbye.
    if (this.connected)
      client.publish(
        topics.state(this.deps.school, this.deps.device),
        this.stateMessage(false),
        { qos: 1, retain: true },
        () => undefined,
      );
    await endMqttClient(client);
  }

  private async clientOptions(): Promise<IClientOptions> {
    const { config, device } = this.deps;
    const read = (path: string | undefined) => (path ? readFile(path) : Promise.resolve(undefined));
    const [ca, cert, key] = await Promise.all([
      read(config.tls?.ca),
      read(config.tls?.cert),
      read(config.tls?.key),
    ]);
    return {
      clientId: device,
      clean: true,
      // Reconnection is ours: exponential backoff with jitter, and a fresh will each time.
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      keepalive: 30,
      ...(config.username ? { username: config.username } : {}),
      ...(config.password ? { password: config.password } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    };
  }

  /**
   * Each connection gets the next birth/death sequence number, persisted before it is used. A disk
   * that takes no writes does not keep the device off the network: it connects with the number
   * unpersisted (after a restart on that disk a number may come again, and the bridge then takes a
   * late will of the earlier connection as this one's death until the device reconnects).
   */
  private async nextBirth(): Promise<void> {
    this.bdSeq += 1;
    this.state.data.bdSeq = this.bdSeq;
    await this.saveState().catch((error: unknown) =>
      this.deps.logger.warn(
        { err: (error as Error).message, bdSeq: this.bdSeq },
        'birth sequence not persisted (disk full?); connecting with it anyway',
      ),
    );
  }

  private saveState(): Promise<void> {
    const write = this.saving.then(() => this.state.write());
    this.saving = write.catch(() => undefined);
    return write;
  }

  /**
   * Notes a command's id as run, on disk before it runs, so that a replay of it (a copy captured on
   * the broker) is refused even after a restart. False when the id has run already. Ids are kept
   * until their command expires, at most MAX_RAN_COMMANDS of them.
   */
  private async firstRun(command: Command, now: number): Promise<boolean> {
    const ran = this.state.data.ranCommands ?? {};
    for (const [id, expires] of Object.entries(ran)) if (expires < now) delete ran[id];
    if (ran[command.id] !== undefined) return false;
    ran[command.id] = Date.parse(command.expiresAt);
    const kept = Object.entries(ran).sort(([, a], [, b]) => b - a);
    this.state.data.ranCommands = Object.fromEntries(kept.slice(0, MAX_RAN_COMMANDS));
    await this.saveState();
    return true;
  }

  private stateMessage(online: boolean): string {
    const state: DeviceState = {
      v: SPEC_VERSION,
      device: this.deps.device,
      school: this.deps.school,
      online,
      bdSeq: this.bdSeq,
      at: new Date().toISOString(),
      ...(online ? this.deps.status() : {}),
      ...(online && this.deps.catalogue ? { catalogueVersion: this.deps.catalogue.version() } : {}),
      ...(online && this.deps.roster.variant ? { rosterVariant: this.deps.roster.variant } : {}),
      // What this device needs to catch up, answered on its sync topic: no retained message required.
      ...(online
        ? {
            want: [...SYNC_WANTS].filter(
              (w) =>
                (w !== 'catalogue' || this.deps.catalogue) &&
                (w !== 'hotlist' || this.deps.venue) &&
                (w !== 'lockdown' || this.deps.gate),
            ),
          }
        : {}),
    };
    return JSON.stringify(state);
  }

  private will(): IClientOptions['will'] {
    return {
      topic: topics.state(this.deps.school, this.deps.device),
      payload: Buffer.from(this.stateMessage(false)),
      qos: 1,
      retain: true,
    };
  }

  private onConnect(): void {
    const { school, device, logger } = this.deps;
    const client = this.client as MqttClient;
    this.connected = true;
    this.listening = false;
    this.connectedAt = performance.now();
    this.inFlight = [];
    this.window = this.deps.config.batch.inFlight;
    this.nextSeq = this.deps.journal.stats().ackedSeq + 1;
    logger.info(
      { bdSeq: this.bdSeq, resumeFrom: this.nextSeq, broker: this.nodes.current },
      'uplink connected',
    );
    this.synced = false;
    // Subscribed before the birth asks, so the answer cannot come first; on its own, because a bridge
    // of the version before refuses this filter (0x80) and that must not fail the others.
    client.subscribe(topics.sync(school, device), { qos: DEVICE_DELIVERY_QOS }, (error, granted) => {
      if (error || refusesFilter(granted?.[0]?.qos)) {
        logger.info('the bridge does not answer births (an older bridge): relying on retained messages');
        this.synced = true;
      }
      this.birth(SYNC_RETRY_MS);
    });
    if (this.deps.roster.wantsFresh) void this.feeds.askForSnapshot();
    client.subscribe(
      [topics.ack(school, device), topics.commands(school, device), ...this.feeds.topics()],
      { qos: DEVICE_DELIVERY_QOS },
      (error) => {
        if (error && refusedSubscription(error)) {
          // A NATS node refuses while its cluster is short of a node. mqtt.js then drops the filters
          // from what it subscribes again, and the gateway would go on sending batches whose acks it
          // never hears, deaf to commands and roster updates, for as long as the connection lasted.
          // Ended now: the next connection (to the next node) subscribes again.
          logger.warn({ err: error.message }, 'the broker refused the subscriptions: reconnecting');
          if (this.client === client && this.connected) client.stream.destroy();
          return;
        }
        if (error) logger.error({ err: error.message }, 'uplink subscribe failed');
        // Sent only once the ack can be heard: an ack is not retained on every broker, and one that
        // came before the subscription would be lost until the batch timed out.
        this.listening = true;
        // Only a connection that hears is a success: a node that refuses every time is left at the
        // backoff's pace, not at once.
        this.attempt = 0;
        void this.pump();
      },
    );
    this.deps.updates?.connected();
  }

  /** Reports update progress to the bridge; dropped while disconnected (the agent says it again on connect). */
  publishProgress(progress: Omit<UpdateProgress, 'device'>): void {
    if (!this.connected || !this.client) return;
    const { school, device } = this.deps;
    this.client.publish(topics.update(school, device), JSON.stringify({ ...progress, device }), { qos: 1 });
  }

  /** Publishes this connection's birth, asking again later while the bridge has not answered. */
  private birth(retryMs: number): void {
    if (!this.connected || !this.client) return;
    this.publishState();
    clearTimeout(this.syncTimer);
    if (this.synced) return;
    this.syncTimer = setTimeout(() => {
      if (this.synced || !this.connected) return;
      this.deps.logger.info({ bdSeq: this.bdSeq }, 'no answer to the birth yet: asking again');
      this.birth(Math.min(retryMs * 2, SYNC_RETRY_MAX_MS));
    }, retryMs);
  }

  private onClose(): void {
    const wasConnected = this.connected;
    clearTimeout(this.syncTimer);
    this.connected = false;
    if (this.stopping) return;
    if (wasConnected) this.deps.logger.warn('uplink disconnected');
    clearTimeout(this.reconnectTimer);
    const delay = backoffDelay(
      this.attempt,
      this.deps.config.backoff.initialMs,
      this.deps.config.backoff.maxMs,
    );
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.nextBirth()
        .then(() => {
          if (this.stopping || !this.client) return;
          this.reconnects += 1;
          this.client.options.will = this.will();
          this.nodes.moveOn(this.client.options);
          this.client.reconnect();
        })
        .catch((error: unknown) =>
          this.deps.logger.error({ err: error }, 'could not persist the birth sequence'),
        );
    }, delay);
  }

  private tick(): void {
    // Three ack timeouts: a loaded broker is slow to answer, and leaving it too soon only adds load.
    const subscribeWithinMs = 3 * this.deps.config.batch.ackTimeoutMs;
    if (this.connected && !this.listening && performance.now() - this.connectedAt > subscribeWithinMs) {
      // A clustered broker node back from a crash can hold a SUBSCRIBE while it recovers; another
      // connection (to it once recovered, or behind a load balancer to another node) is the way on.
      this.deps.logger.warn(
        { waitedMs: subscribeWithinMs },
        'the broker has not acknowledged the subscriptions: reconnecting',
      );
      this.client?.stream.destroy();
      return;
    }
    const oldest = this.inFlight[0];
    if (oldest && performance.now() - oldest.sentAt > this.deps.config.batch.ackTimeoutMs) {
      this.deps.logger.warn(
        { from: this.deps.journal.stats().ackedSeq + 1 },
        'no ack in time; sending again from the last ack',
      );
      this.rewind(this.deps.journal.stats().ackedSeq + 1);
    }
    void this.pump();
  }

  private rewind(fromSeq: number): void {
    this.window = Math.max(1, Math.floor(this.window / 2));
    this.inFlight = [];
    this.nextSeq = Math.max(fromSeq, this.deps.journal.stats().ackedSeq + 1);
  }

  /** Sends batches while there are records and room in flight. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    const { journal, config, device, school, identity, logger } = this.deps;
    try {
      while (this.connected && this.listening && this.inFlight.length < this.window) {
        const records = await journal.read(this.nextSeq, config.batch.maxRecords);
        if (records.length === 0 || !this.connected) break;
        // Records lost just before these (a damaged journal, a full disk): the batch says so.
        const lost = journal.lossBefore((records[0] as EventRecord).seq);
        const batch = signBatch(device, school, records, identity.key, lost);
        this.inFlight.push({ to: batch.to, sentAt: performance.now() });
        this.nextSeq = batch.to + 1;
        (this.client as MqttClient).publish(
          topics.events(school, device),
          JSON.stringify(batch),
          { qos: config.batch.qos },
          (error) => {
            if (error)
              logger.warn(
                { err: error.message, from: batch.from },
                'batch not handed to the broker; it will be sent again',
              );
          },
        );
      }
    } catch (error) {
      logger.error({ err: error }, 'uplink could not read the journal');
    } finally {
      this.pumping = false;
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    const { school, device, logger } = this.deps;
    // An empty message clears a retained one (the bridge withdrawing an ack): nothing to handle.
    if (payload.length === 0) return;
    const task =
      topic === topics.ack(school, device)
        ? this.onAck(payload)
        : topic === topics.sync(school, device)
          ? this.onSync(payload)
          : topic === topics.commands(school, device)
            ? this.onCommand(payload)
            : this.feeds.onMessage(topic, payload);
    task.catch((error: unknown) =>
      logger.warn({ topic, reason: (error as Error).message }, 'uplink message not handled'),
    );
  }

  /**
   * The bridge's answer to this connection's birth: each part goes where the same message on its own
   * topic would, key sets first (the rest is checked against them), the ack last.
   */
  private async onSync(payload: Buffer): Promise<void> {
    const parsed = parseMessage(SyncReply, payload);
    if (!parsed.ok) throw new Error(`bad sync answer: ${parsed.error}`);
    const reply = parsed.value;
    if (reply.device !== this.deps.device || reply.bdSeq !== this.bdSeq) return;
    this.synced = true;
    clearTimeout(this.syncTimer);
    await this.feeds.applySync(reply);
    // Checked and run as a command from the command topic is, against the key sets just applied.
    if (parsed.raw.lockdown) await this.onCommand(Buffer.from(JSON.stringify(parsed.raw.lockdown)));
    if (reply.ack) await this.applyAck(reply.ack);
  }

  private async onAck(payload: Buffer): Promise<void> {
    const parsed = parseMessage(EventAck, payload);
    if (!parsed.ok) throw new Error(`bad ack: ${parsed.error}`);
    await this.applyAck(parsed.value);
  }

  /**
   * Takes the bridge's ack only when it names a record this journal holds, by seq and hash: an ack
   * of another chain (the retained ack of this id's previous enrollment, a forged one) would otherwise
   * drop events the bridge never stored. What is refused is logged and counted, and changes nothing.
   */
  private async applyAck(ack: EventAck): Promise<void> {
    const { journal, device, logger } = this.deps;
    const { ackedSeq, durableSeq } = journal.stats();
    if (ack.device === device && ack.seq <= ackedSeq) return;
    const held = ack.seq <= durableSeq ? (await journal.read(ack.seq, 1))[0] : undefined;
    const refusal =
      ack.device !== device
        ? `it names device ${ack.device}`
        : !held
          ? `seq ${ack.seq} is beyond this journal (durable to ${durableSeq})`
          : held.hash !== ack.hash
            ? `record ${ack.seq} of this journal has another hash`
            : undefined;
    if (refusal) {
      this.refusedAcks += 1;
      logger.warn(
        { seq: ack.seq, reason: refusal },
        "ack refused: it is not for a record of this device's journal (another enrollment's, or forged)",
      );
      return;
    }
    const seq = ack.seq;
    // The bridge has committed these: their slots are free now, while the cursor is written. A crash
    // before the cursor is on disk only resends what the bridge already holds, and it dedups.
    this.inFlight = this.inFlight.filter((batch) => batch.to > seq);
    this.window = Math.min(this.deps.config.batch.inFlight, this.window + 1);
    if (this.nextSeq <= seq) this.nextSeq = seq + 1;
    void this.pump();
    await journal.acknowledge(seq);
  }

  /**
   * Runs a command only when the bridge's command key, as this device's key set names it, signed it
   * for this device, it has not expired and its id has not run before: whoever can publish on the
   * command topic (an external broker's other users) can open no door. A refusal is answered,
   * logged and counted, and runs nothing.
   */
  private async onCommand(payload: Buffer): Promise<void> {
    const { school, device, logger } = this.deps;
    const parsed = parseMessage(CommandSchema, payload);
    const id = (() => {
      try {
        return String(JSON.parse(payload.toString()).id ?? 'unknown');
      } catch {
        return 'unknown';
      }
    })();
    const reply = (result: Omit<CommandResult, 'v' | 'id' | 'at'>) =>
      this.client?.publish(
        topics.results(school, device),
        JSON.stringify({ v: SPEC_VERSION, id, at: new Date().toISOString(), ...result }),
        { qos: 1 },
      );
    if (!parsed.ok) {
      logger.warn({ id, reason: parsed.error }, 'command refused');
      reply({ status: 'error', error: parsed.error });
      return;
    }
    const command = parsed.value;
    const now = Date.now();
    const refusal =
      commandRefusal(parsed.raw, command, { device, school, role: this.deps.roster.keySet?.commands, now }) ??
      ((await this.firstRun(command, now))
        ? undefined
        : { status: 'refused' as const, reason: `command ${command.id} has run already: a replay` });
    if (refusal) {
      this.refusedCommands += 1;
      logger.warn({ id, name: command.name, reason: refusal.reason }, 'command refused');
      reply(
        refusal.status === 'expired'
          ? { status: 'expired' }
          : { status: 'error', error: `refused: ${refusal.reason}` },
      );
      return;
    }
    logger.info({ id, name: command.name }, 'command');
    try {
      if (command.name === 'events.resend') this.rewind(command.args.fromSeq);
      if (command.name === 'roster.reload') await this.feeds.fetchSnapshotAgain();
      const data = await this.deps.onCommand(command);
      reply({ status: 'ok', ...(data ? { data } : {}) });
      void this.pump();
    } catch (error) {
      reply({ status: 'error', error: (error as Error).message });
    }
  }
}
