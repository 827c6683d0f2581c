import mqtt, { type MqttClient } from 'mqtt';
import type { z } from 'zod';
import { describeIssues, SPEC_VERSION } from '../contract/common.js';
import {
  ItemPresented,
  LocalGatewayState,
  localTopics,
  StationTap,
  StationView,
  TerminalReply,
  TerminalRequest,
  type TerminalRequestName,
} from '../contract/stations.js';

// Browser-safe: this folder imports no node: module, and mqtt.js picks its browser build (WebSocket
// only) under a bundler's "browser" condition.

export interface TerminalClientOptions {
  /** `mqtt://gateway:1884` from Node, `ws://gateway:8084` or `ws://<page origin>/mqtt` from a page. */
  url: string;
  /** The terminal's id: its user name at the gateway's broker. */
  terminal: string;
  password: string;
  /** The station this terminal works with. */
  station: string;
  /** The longest wait for the first connection (default 10 s). */
  connectTimeoutMs?: number;
  /** The wait before each reconnection after the link drops (default 1 s). */
  reconnectPeriodMs?: number;
  /** The longest wait for a reply when a request names none (default 10 s). */
  requestTimeoutMs?: number;
}

export interface RequestOptions {
  timeoutMs?: number;
}

/** The arguments of one request, by its name. */
export type RequestArgs<N extends TerminalRequestName> = Extract<TerminalRequest, { name: N }>['args'];

/** A message on one of the client's topics that the contract does not allow; it was dropped. */
export interface ProtocolError {
  topic: string;
  message: string;
}

/** Why the connection failed or dropped, when it did. */
export type ConnectionListener = (connected: boolean, error?: Error) => void;

type Listener<T> = (value: T) => void;

/** The CONNACK codes a broker refuses credentials with (MQTT 3.1.1 and 5). */
const REFUSED_CREDENTIALS = new Set([2, 4, 5, 133, 134, 135]);

/** A random prefix for request ids, so two pages of one terminal never share an id. */
function randomPrefix(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** A listener's failure is its own: the other listeners still hear, and the error surfaces uncaught. */
function rethrowLater(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A terminal's link to a station on the gateway: the station's taps, tagged items and view, the gateway's state, and
 * requests answered by correlation id. Runs in Node (`mqtt://`) and in a browser (`ws://`).
 */
export class TerminalClient {
  private readonly prefix = randomPrefix();
  private counter = 0;
  private readonly pending = new Map<
    string,
    {
      resolve: (reply: TerminalReply) => void;
      reject: (error: Error) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();
  private readonly tapListeners = new Set<Listener<StationTap>>();
  private readonly itemListeners = new Set<Listener<ItemPresented>>();
  private readonly stateListeners = new Set<Listener<LocalGatewayState>>();
  private readonly viewListeners = new Set<Listener<StationView>>();
  private readonly connectionListeners = new Set<ConnectionListener>();
  private readonly protocolListeners = new Set<Listener<ProtocolError>>();
  private lastState: LocalGatewayState | undefined;
  private lastView: StationView | undefined;
  private closed = false;
  private readonly topics: {
    state: string;
    taps: string;
    items: string;
    view: string;
    replies: string;
    requests: string;
  };

  private constructor(
    private readonly mqtt: MqttClient,
    readonly options: TerminalClientOptions,
  ) {
    const { station, terminal } = options;
    this.topics = {
      state: localTopics.gatewayState(),
      taps: localTopics.taps(station),
      items: localTopics.items(station),
      view: localTopics.view(station),
      replies: localTopics.replies(station, terminal),
      requests: localTopics.requests(station),
    };
  }

  /**
   * Connects, subscribes to the station's topics and resolves once the gateway granted them. Rejects
   * when the gateway refuses the credentials or the station, or cannot be reached in time; after the
   * first connection the client reconnects by itself (see `onConnection`).
   */
  static connect(options: TerminalClientOptions): Promise<TerminalClient> {
    try {
      localTopics.replies(options.station, options.terminal);
    } catch (error) {
      return Promise.reject(error);
    }
    const client = mqtt.connect(options.url, {
      clientId: `${options.terminal}:${randomPrefix()}`,
      username: options.terminal,
      password: options.password,
      clean: true,
      protocolVersion: 4,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      reconnectPeriod: options.reconnectPeriodMs ?? 1000,
      resubscribe: true,
    });
    const terminal = new TerminalClient(client, options);
    return terminal.open();
  }

  /** Whether the link to the gateway is up now. */
  get connected(): boolean {
    return this.mqtt.connected;
  }

  /** The gateway's last state, when one arrived. */
  get state(): LocalGatewayState | undefined {
    return this.lastState;
  }

  /** The station's last view, when one arrived. */
  get view(): StationView | undefined {
    return this.lastView;
  }

  /** Each tap at the station. Returns a function that stops listening. */
  onTap(listener: Listener<StationTap>): () => void {
    return this.listen(this.tapListeners, listener);
  }

  /**
   * Each tagged item (a book's tag) held to the station's reader: handle it as a scanned barcode.
   * Returns a function that stops listening.
   */
  onItem(listener: Listener<ItemPresented>): () => void {
    return this.listen(this.itemListeners, listener);
  }

  /** The gateway's state (retained): called at once with the last one, then on every change. */
  onState(listener: Listener<LocalGatewayState>): () => void {
    if (this.lastState) listener(this.lastState);
    return this.listen(this.stateListeners, listener);
  }

  /** The station's view (retained): called at once with the last one, then on every change. */
  onView(listener: Listener<StationView>): () => void {
    if (this.lastView) listener(this.lastView);
    return this.listen(this.viewListeners, listener);
  }

  /** The link to the gateway: called at once with its state, then on every change. */
  onConnection(listener: ConnectionListener): () => void {
    listener(this.connected);
    return this.listen(this.connectionListeners, listener);
  }

  /** Messages dropped because the contract does not allow them. */
  onProtocolError(listener: Listener<ProtocolError>): () => void {
    return this.listen(this.protocolListeners, listener);
  }

  /**
   * Sends one request to the station and resolves with its reply. Rejects when the request does not fit
   * the contract (nothing is sent), when no reply came within the timeout, or when the client closes.
   * A `refused` or `error` reply resolves: it is an answer. A request with a `txn` may be sent again
   * after a timeout or a reload: the station answers it with the first outcome.
   */
  request<N extends TerminalRequestName>(
    name: N,
    args: RequestArgs<N>,
    options: RequestOptions = {},
  ): Promise<TerminalReply> {
    if (this.closed) return Promise.reject(new Error('the terminal client is closed'));
    this.counter += 1;
    const id = `${this.prefix}-${this.counter}`;
    const parsed = TerminalRequest.safeParse({
      v: SPEC_VERSION,
      id,
      terminal: this.options.terminal,
      name,
      args,
    });
    if (!parsed.success) {
      return Promise.reject(new Error(`request ${name} is malformed: ${describeIssues(parsed.error)}`));
    }
    const timeoutMs = options.timeoutMs ?? this.options.requestTimeoutMs ?? 10_000;
    return new Promise<TerminalReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        const link = this.connected ? '' : ' (the link to the gateway is down)';
        reject(
          new Error(
            `request ${name} (${id}) got no reply from station ${this.options.station} within ${timeoutMs} ms${link}`,
          ),
        );
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.mqtt.publish(this.topics.requests, JSON.stringify(parsed.data), { qos: 1 }, (error) => {
        if (!error) return;
        this.settle(id)?.reject(
          new Error(`request ${name} (${id}) could not be sent: ${describeError(error)}`),
        );
      });
    });
  }

  /** Closes the link; requests still waiting are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.pending.keys()]) {
      this.settle(id)?.reject(new Error('the terminal client was closed before the reply came'));
    }
    await this.mqtt.endAsync(true);
    this.emitConnection(false);
  }

  private open(): Promise<TerminalClient> {
    const { mqtt: client, options } = this;
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    return new Promise<TerminalClient>((resolve, reject) => {
      let lastError: Error | undefined;
      const deadline = setTimeout(() => {
        const why = lastError ? `: ${lastError.message}` : '';
        fail(
          new Error(
            `cannot connect terminal "${options.terminal}" to ${options.url} within ${timeoutMs} ms${why}`,
          ),
        );
      }, timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(deadline);
        client.off('connect', onFirstConnect);
        client.off('error', onFirstError);
        client.on('error', () => {}); // the client is ending: nothing more to hear
        this.closed = true;
        client.end(true);
        reject(error);
      };
      const onFirstError = (error: Error & { code?: unknown }) => {
        lastError = error;
        // Wrong credentials will not get better; anything else may (mqtt.js tries again until the deadline).
        if (typeof error.code === 'number' && REFUSED_CREDENTIALS.has(error.code)) {
          fail(new Error(`the gateway refused terminal "${options.terminal}": ${error.message}`));
        }
      };
      const onFirstConnect = () => {
        clearTimeout(deadline);
        client.off('error', onFirstError);
        this.wire();
        const { state, taps, items, view, replies } = this.topics;
        const wanted = [state, taps, items, view, replies];
        client.subscribe(wanted, { qos: 1 }, (error, _granted, packet) => {
          // A SUBACK code of 0x80 is the gateway's ACL saying no to that topic.
          const codes = (packet as { granted?: unknown[] } | undefined)?.granted ?? [];
          const refused = wanted.filter((_topic, index) => codes[index] === 128);
          if (refused.length > 0) {
            fail(
              new Error(
                `the gateway does not let terminal "${options.terminal}" use station "${options.station}" (refused: ${refused.join(', ')})`,
              ),
            );
          } else if (error) {
            fail(new Error(`terminal "${options.terminal}" cannot subscribe: ${describeError(error)}`));
          } else {
            this.emitConnection(true);
            resolve(this);
          }
        });
      };
      client.once('connect', onFirstConnect);
      client.on('error', onFirstError);
    });
  }

  /** Listeners for the life of the client, once the first connection is up. */
  private wire(): void {
    const { mqtt: client } = this;
    let lastError: Error | undefined;
    client.on('connect', () => {
      lastError = undefined;
      this.emitConnection(true);
    });
    client.on('close', () => {
      if (!this.closed) this.emitConnection(false, lastError);
    });
    client.on('error', (error) => {
      lastError = error;
    });
    client.on('message', (topic, payload) => this.receive(topic, payload));
  }

  private receive(topic: string, payload: Uint8Array): void {
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(payload));
    } catch (error) {
      this.protocolError(topic, `not JSON: ${describeError(error)}`);
      return;
    }
    if (topic === this.topics.replies) {
      const reply = this.parse(TerminalReply, topic, raw);
      if (reply) this.settle(reply.id)?.resolve(reply);
      // A reply to no request of this client: another page of the same terminal asked, or it came late.
    } else if (topic === this.topics.taps) {
      const tap = this.parse(StationTap, topic, raw);
      if (tap) this.emit(this.tapListeners, tap);
    } else if (topic === this.topics.items) {
      const item = this.parse(ItemPresented, topic, raw);
      if (item) this.emit(this.itemListeners, item);
    } else if (topic === this.topics.state) {
      const state = this.parse(LocalGatewayState, topic, raw);
      if (state) {
        this.lastState = state;
        this.emit(this.stateListeners, state);
      }
    } else if (topic === this.topics.view) {
      const view = this.parse(StationView, topic, raw);
      if (view) {
        this.lastView = view;
        this.emit(this.viewListeners, view);
      }
    }
  }

  private parse<T>(schema: z.ZodType<T>, topic: string, raw: unknown): T | undefined {
    const version = (raw as { v?: unknown } | null)?.v;
    if (typeof version === 'number' && version !== SPEC_VERSION) {
      this.protocolError(
        topic,
        `message is contract version ${version}, this terminal speaks ${SPEC_VERSION}`,
      );
      return undefined;
    }
    const result = schema.safeParse(raw);
    if (result.success) return result.data;
    this.protocolError(topic, describeIssues(result.error));
    return undefined;
  }

  private settle(id: string) {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }

  private protocolError(topic: string, message: string): void {
    this.emit(this.protocolListeners, { topic, message });
  }

  private emitConnection(connected: boolean, error?: Error): void {
    for (const listener of this.connectionListeners) {
      try {
        listener(connected, error);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }

  private listen<T>(set: Set<T>, listener: T): () => void {
    set.add(listener);
    return () => set.delete(listener);
  }

  private emit<T>(set: Set<Listener<T>>, value: T): void {
    for (const listener of set) {
      try {
        listener(value);
      } catch (error) {
        rethrowLater(error);
      }
    }
  }
}
