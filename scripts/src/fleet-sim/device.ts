import {
  type BatchQos,
  backoffDelay,
  type Command,
  Command as CommandSchema,
  DEVICE_DELIVERY_QOS,
  type DeviceState,
  type Ed25519KeyPair,
  type EnrollmentResponse,
  type EventAck,
  EventAck as EventAckSchema,
  type EventRecord,
  GENESIS_HASH,
  generateKeyPair,
  parseMessage,
  SPEC_VERSION,
  SYNC_WANTS,
  SyncReply,
  signBatch,
  toBase64Url,
  topics,
} from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import mqtt, { ErrorWithReasonCode, type MqttClient } from 'mqtt';

/** How long a stopping device waits for the broker to take its death message. */
const STOP_WAIT_MS = 5000;
/**
 * How long one connection may take from CONNECT to its birth taken: a NATS node back from a crash can
 * hold SUBSCRIBE without a SUBACK while JetStream recovers, and a device must not wait on it for ever.
 */
export const HANDSHAKE_MS = 30_000;
/** MQTT 3.1.1's CONNACK 3: the node cannot serve now (NATS says so while JetStream is not ready), to be tried again. */
const SERVER_UNAVAILABLE = 3;

/**
 * A CONNACK that refused the device itself (its id, its credentials, not authorised: a revoked
 * device): every node says the same, so it is not tried again.
 */
export const refused = (error: unknown): boolean =>
  error instanceof ErrorWithReasonCode && error.code !== SERVER_UNAVAILABLE;

/** A device cut off by the broker connects again after this, doubled each failure up to the ceiling, as `uplink.backoff`. */
const RECONNECT_MS = { initial: 500, max: 30_000 };

export interface SimulatedDeviceOptions {
  id: string;
  school: string;
  /** The bridge's HTTP base, for enrollment. */
  bridgeHttp: string;
  /** Records per batch at most, as `uplink.batch.maxRecords`. */
  maxRecords?: number;
  /** Batches in flight at most, as `uplink.batch.inFlight`. */
  inFlight?: number;
  /** A batch not acknowledged this long is sent again from the last ack, as `uplink.batch.ackTimeoutMs`. */
  ackTimeoutMs?: number;
  /** The QoS batches are published with, as `uplink.batch.qos`: by default the one enrollment names, else 1. */
  qos?: BatchQos;
  /**
   * The broker nodes a device cut off by the broker connects to again by itself, the next one after
   * each failure (none: it waits for `connect`).
   */
  brokerUrls?: string[];
}

/** What one device has seen: the fleet adds these up. */
export interface DeviceCounters {
  tapped: number;
  acked: number;
  batchesSent: number;
  resends: number;
  syncAnswers: number;
  connects: number;
  refusals: number;
}

/**
 * A light gateway for fleet simulations: the real contract (births with bdSeq and their wills, what it
 * asks for on connect, signed batches of hash-chained records, acks, `events.resend`), a real Ed25519
 * key enrolled over HTTP with a one-time token, a journal kept in memory. It leaves out what a real
 * gateway does on the device (readers, policy, disk), so thousands run in one process.
 */
export class SimulatedDevice {
  readonly counters: DeviceCounters = {
    tapped: 0,
    acked: 0,
    batchesSent: 0,
    resends: 0,
    syncAnswers: 0,
    connects: 0,
    refusals: 0,
  };
  /** Milliseconds from each tap to the ack that covered it. */
  readonly latencies: number[] = [];
  private readonly key: Ed25519KeyPair = generateKeyPair();
  private credentials: { username: string; password: string } | undefined;
  /** The batch QoS the bridge named at enrollment. */
  private toldQos: BatchQos | undefined;
  private client: MqttClient | undefined;
  /** Records not yet acknowledged, oldest first, with the time each was tapped. */
  private pending: { record: EventRecord; tappedAt: number }[] = [];
  private head = { seq: 0, hash: GENESIS_HASH };
  private ackedSeq = 0;
  private nextSeq = 1;
  private inFlight: { to: number; sentAt: number }[] = [];
  private bdSeq = 0;
  private connected = false;
  private timer: NodeJS.Timeout | undefined;
  /** The one connection attempt under way: `connect` and the device's own reconnection share it. */
  private connecting: Promise<void> | undefined;
  /** Off the broker by the caller's will (`drop`, `stop`): no reconnection of its own. */
  private held = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private lastUrl: string | undefined;

  constructor(private readonly options: SimulatedDeviceOptions) {}

  get id(): string {
    return this.options.id;
  }

  get school(): string {
    return this.options.school;
  }

  get isConnected(): boolean {
    return this.connected;
  }

  get backlog(): number {
    return this.pending.length;
  }

  get lastAcked(): number {
    return this.ackedSeq;
  }

  /** The broker node of its last connection attempt. */
  get node(): string | undefined {
    return this.lastUrl;
  }

  /** The QoS this device publishes its batches with. */
  get batchQos(): BatchQos {
    return this.options.qos ?? this.toldQos ?? 1;
  }

  /** Enrolls with a one-time token, as `educard enroll` does. */
  async enroll(token: string): Promise<void> {
    const response = await fetch(new URL('/v1/enroll', this.options.bridgeHttp), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, deviceId: this.id, publicKey: toBase64Url(this.key.publicKey) }),
      signal: AbortSignal.timeout(120_000),
    });
    const answer = (await response.json()) as EnrollmentResponse & { message?: string };
    if (!response.ok) throw new Error(`${this.id} not enrolled: ${response.status} ${answer.message}`);
    this.credentials = { username: answer.mqtt.username, password: answer.mqtt.password };
    this.toldQos = answer.mqtt.batchQos;
  }

  /**
   * Connects to one broker node with a fresh bdSeq and its will, asks for what it needs in its
   * birth, and starts sending. Rejects when the broker refuses the connection (a revoked device:
   * the error carries the CONNACK's code), and when the node has not taken the subscriptions and
   * the birth within `withinMs` (the connection is then dropped).
   */
  connect(url: string, withinMs = HANDSHAKE_MS): Promise<void> {
    this.held = false;
    this.connecting ??= this.connectOnce(url, withinMs).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connectOnce(url: string, withinMs: number): Promise<void> {
    if (!this.credentials) throw new Error(`${this.id} is not enrolled`);
    this.lastUrl = url;
    this.bdSeq += 1;
    const { school } = this.options;
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(
        url,
        {
          clientId: this.id,
          ...this.credentials,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: withinMs,
          keepalive: 60,
          will: {
            topic: topics.state(school, this.id),
            payload: Buffer.from(this.state(false)),
            qos: 1,
            retain: true,
          },
        },
        // No retries: with them, a connection closed before its CONNACK (the connect timeout, a node
        // closing it) never settles the promise, mqtt.js waiting for a retry reconnectPeriod 0 rules out.
        false,
      );
    } catch (error) {
      if (refused(error)) this.counters.refusals += 1;
      throw error;
    }
    this.client = client;
    this.connected = true;
    this.counters.connects += 1;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    client.on('close', () => {
      if (this.client !== client) return;
      this.connected = false;
      this.reconnectLater();
    });
    client.on('error', () => undefined);
    this.inFlight = [];
    this.nextSeq = this.ackedSeq + 1;
    let timer: NodeJS.Timeout | undefined;
    const handshake = async () => {
      await client.subscribeAsync(
        [
          topics.ack(school, this.id),
          topics.commands(school, this.id),
          topics.sync(school, this.id),
          topics.rosterKeySets(school),
          topics.rosterSnapshot(school),
          topics.rosterDelta(school),
        ],
        { qos: DEVICE_DELIVERY_QOS },
      );
      await client.publishAsync(topics.state(school, this.id), this.state(true), { qos: 1, retain: true });
    };
    try {
      await Promise.race([
        handshake(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new Error(`${this.id}: ${url} took no subscription and birth within ${withinMs} ms`)),
            withinMs,
          );
        }),
      ]);
    } catch (error) {
      this.connected = false;
      this.client = undefined;
      client.end(true);
      throw error;
    } finally {
      clearTimeout(timer);
    }
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), 200);
    this.failures = 0;
    this.send();
  }

  /**
   * After the broker cut it off: the next node (from the one it was on) after a backoff with jitter,
   * as a gateway given every node's address does; a refusal (revoked) ends it.
   */
  private reconnectLater(): void {
    const urls = this.options.brokerUrls;
    if (!urls?.length || this.held) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(
      () => {
        if (this.connected || this.held) return;
        const at = Math.max(0, urls.indexOf(this.lastUrl as string));
        this.connect(urls[(at + 1) % urls.length] as string).catch((error: unknown) => {
          if (refused(error)) return;
          this.failures += 1;
          this.reconnectLater();
        });
      },
      backoffDelay(this.failures, RECONNECT_MS.initial, RECONNECT_MS.max),
    );
  }

  /** One tap: a gate decision journaled now and sent with the next batch. */
  tap(): void {
    this.journalTap();
    this.send();
  }

  /**
   * `count` taps journaled and not sent yet, as by a gateway whose link is down: the backlog goes
   * with the next `send`.
   */
  journalTaps(count: number): void {
    for (let i = 0; i < count; i += 1) this.journalTap();
  }

  private journalTap(): void {
    const tappedAt = Date.now();
    const [record] = chainRecords(
      this.id,
      [
        {
          type: 'gate.decision',
          at: new Date(tappedAt).toISOString(),
          data: gateDecisionData({ personId: `p-${this.id}-${this.head.seq % 500}` }),
        },
      ],
      this.head,
    ) as [EventRecord];
    this.head = { seq: record.seq, hash: record.hash };
    this.pending.push({ record, tappedAt });
    this.counters.tapped += 1;
  }

  /** The link drops without a goodbye (the will says offline); taps go on piling up in the journal. */
  drop(): void {
    this.held = true;
    clearTimeout(this.reconnectTimer);
    this.connected = false;
    clearInterval(this.timer);
    this.client?.stream.destroy();
    this.client?.end(true);
  }

  /**
   * A clean stop: the death message, then disconnect. The death waits for its PUBACK at most a few
   * seconds: a broker node too busy to answer must not hold the whole fleet's stop.
   */
  async stop(): Promise<void> {
    this.held = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.timer);
    await this.connecting?.catch(() => undefined);
    const client = this.client;
    if (!client) return;
    if (this.connected) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        client
          .publishAsync(topics.state(this.options.school, this.id), this.state(false), {
            qos: 1,
            retain: true,
          })
          .catch(() => undefined),
        new Promise((resolve) => {
          timer = setTimeout(resolve, STOP_WAIT_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    this.connected = false;
    await client.endAsync(true).catch(() => undefined);
  }

  private state(online: boolean): string {
    const state: DeviceState = {
      v: SPEC_VERSION,
      device: this.id,
      school: this.options.school,
      online,
      bdSeq: this.bdSeq,
      at: new Date().toISOString(),
      ...(online
        ? {
            journalBacklog: this.pending.length,
            lastSeq: this.head.seq,
            want: SYNC_WANTS.filter((w) => w !== 'catalogue'),
          }
        : {}),
    };
    return JSON.stringify(state);
  }

  private tick(): void {
    const oldest = this.inFlight[0];
    if (oldest && Date.now() - oldest.sentAt > (this.options.ackTimeoutMs ?? 10_000)) {
      this.counters.resends += 1;
      this.rewind(this.ackedSeq + 1);
    }
    this.send();
  }

  private rewind(fromSeq: number): void {
    this.inFlight = [];
    this.nextSeq = Math.max(fromSeq, this.ackedSeq + 1);
  }

  /** Sends what is journaled and not in flight, as far as the batches in flight allow. */
  send(): void {
    const client = this.client;
    const { school, maxRecords = 500, inFlight = 4 } = this.options;
    const qos = this.batchQos;
    while (this.connected && client && this.inFlight.length < inFlight) {
      const start = this.nextSeq - this.ackedSeq - 1;
      const records = this.pending.slice(start, start + maxRecords).map((p) => p.record);
      if (records.length === 0) return;
      const batch = signBatch(this.id, school, records, this.key);
      this.inFlight.push({ to: batch.to, sentAt: Date.now() });
      this.nextSeq = batch.to + 1;
      this.counters.batchesSent += 1;
      client.publish(topics.events(school, this.id), JSON.stringify(batch), { qos }, () => undefined);
    }
  }

  private onMessage(topic: string, payload: Buffer): void {
    const { school } = this.options;
    if (topic === topics.ack(school, this.id)) {
      const parsed = parseMessage(EventAckSchema, payload);
      if (parsed.ok) this.onAck(parsed.value);
    } else if (topic === topics.sync(school, this.id)) {
      const parsed = parseMessage(SyncReply, payload);
      if (!parsed.ok || parsed.value.bdSeq !== this.bdSeq) return;
      this.counters.syncAnswers += 1;
      if (parsed.value.ack) this.onAck(parsed.value.ack);
    } else if (topic === topics.commands(school, this.id)) {
      const parsed = parseMessage(CommandSchema, payload);
      if (parsed.ok) this.onCommand(parsed.value);
    }
  }

  private onAck(ack: EventAck): void {
    const seq = Math.min(ack.seq, this.head.seq);
    if (seq <= this.ackedSeq) return;
    const now = Date.now();
    const covered = seq - this.ackedSeq;
    for (const { tappedAt } of this.pending.slice(0, covered)) this.latencies.push(now - tappedAt);
    this.pending = this.pending.slice(covered);
    this.counters.acked += covered;
    this.ackedSeq = seq;
    this.inFlight = this.inFlight.filter((batch) => batch.to > seq);
    if (this.nextSeq <= seq) this.nextSeq = seq + 1;
    this.send();
  }

  private onCommand(command: Command): void {
    if (command.name === 'events.resend') {
      this.counters.resends += 1;
      this.rewind(command.args.fromSeq);
      this.send();
    }
    this.client?.publish(
      topics.results(this.options.school, this.id),
      JSON.stringify({ v: SPEC_VERSION, id: command.id, status: 'ok', at: new Date().toISOString() }),
      { qos: 1 },
    );
  }
}
