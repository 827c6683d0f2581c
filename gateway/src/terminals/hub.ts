import type { Server as HttpServer } from 'node:http';
import {
  describeIssues,
  ItemPresented,
  type LocalGatewayState,
  localTopics,
  SPEC_VERSION,
  StationTap,
  TerminalReply,
  TerminalRequest,
} from '@educard/terminal-sdk';
import { BrokerListeners } from '@educard/terminal-sdk/broker-listeners';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from '../log/index.js';
import type { StationReply, TerminalStation } from '../stations/types.js';
import { mayPublish, maySubscribe, requestStation, type TerminalPrincipal } from './acl.js';
import { MAX_REQUEST_BYTES, type TerminalEntry, type TerminalsConfig } from './config.js';
import { passwordMatches } from './credentials.js';

export interface TerminalHubOptions {
  config: TerminalsConfig;
  logger: Logger;
  /** The stations terminals may reach (a gate has none). */
  stations: readonly TerminalStation[];
  /** The gateway's state now, published retained for the pages' link indicator. */
  state: () => LocalGatewayState;
  /** How often the state is published again even when nothing said it changed. */
  stateIntervalMs?: number;
  now?: () => number;
}

const STATE_INTERVAL_MS = 5000;
const BAD_CREDENTIALS = 4;
const IDENTIFIER_REJECTED = 2;
/** A digest no password has, compared against when the user name is unknown, so both take as long. */
const NO_DIGEST = '0'.repeat(64);

function authError(message: string, returnCode: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** Where a connection comes from, for the log: the TCP peer, or the HTTP request's for a WebSocket. */
function remoteOf(client: Client): string | undefined {
  const socket = client.req?.socket ?? (client.conn as { remoteAddress?: string });
  return (socket as { remoteAddress?: string } | undefined)?.remoteAddress;
}

type Failure = { reason: string; message: string };

/**
 * The gateway's broker for the terminals on its LAN: a desk page, a lab's kiosk. Each terminal logs in
 * with its own id and password; an ACL keeps it to its stations' topics and its own replies. Requests
 * are checked against the contract and handed to the station; every request that carries an id gets a
 * reply, and nothing a terminal sends can stop the hub. The gateway publishes in-process.
 */
export class TerminalHub {
  private readonly terminals: ReadonlyMap<string, TerminalEntry>;
  private readonly stations: ReadonlyMap<string, TerminalStation>;
  private readonly principals = new WeakMap<Client, TerminalPrincipal>();
  private readonly listeners: BrokerListeners;
  private readonly logger: Logger;
  private readonly now: () => number;
  private aedes: Aedes | undefined;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> = Promise.resolve();

  constructor(private readonly options: TerminalHubOptions) {
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.terminals = new Map(options.config.terminals.map((terminal) => [terminal.id, terminal]));
    this.stations = new Map(options.stations.map((station) => [station.id, station]));
    this.listeners = new BrokerListeners({
      handle: (stream, request) => {
        if (!this.aedes || this.aedes.closed) {
          stream.destroy();
          return;
        }
        this.aedes.handle(stream, request);
      },
      limits: options.config.limits,
      logger: options.logger,
      name: 'terminal broker',
    });
    for (const station of options.stations) {
      station.onViewChange?.(() => this.publishView(station.id));
    }
  }

  /** The ports listened on (useful when the configuration asked for 0). */
  get ports(): { tcp: number | undefined; ws: number | undefined } {
    return { tcp: this.listeners.tcpPort, ws: this.listeners.wsPort };
  }

  async start(): Promise<void> {
    if (this.aedes) return;
    const { config } = this.options;
    for (const terminal of config.terminals) {
      const unknown = terminal.stations.filter((station) => !this.stations.has(station));
      if (unknown.length > 0) {
        this.logger.warn(
          { terminal: terminal.id, stations: unknown },
          'terminal names stations this gateway lacks',
        );
      }
    }
    this.aedes = await Aedes.createBroker({
      heartbeatInterval: 30_000,
      connectTimeout: config.limits.connectTimeoutMs,
    });
    this.hook(this.aedes);
    try {
      await this.listeners.listenTcp(config.host, config.port);
      if (config.wsPort !== false) await this.listeners.listenWebSocket(config.host, config.wsPort);
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.publishState();
    for (const station of this.stations.keys()) this.publishView(station);
    const interval = this.options.stateIntervalMs ?? STATE_INTERVAL_MS;
    this.timer = setInterval(() => this.publishState(), interval);
    this.timer.unref();
    this.logger.info(
      { host: config.host, port: this.ports.tcp, wsPort: this.ports.ws, terminals: this.terminals.size },
      'terminal broker listening',
    );
  }

  /**
   * Takes MQTT over WebSocket on a server someone else runs (the pages' own), at `path`, so pages reach
   * the broker on their own origin. Returns a function that detaches; `stop()` detaches too.
   */
  attachWebSocket(server: HttpServer, path = '/mqtt'): () => void {
    return this.listeners.attachWebSocket(server, path);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const aedes = this.aedes;
    this.aedes = undefined;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await this.listeners.close();
  }

  /** A tap at a station, to the terminals subscribed to its taps. */
  publishTap(tap: StationTap): void {
    const checked = StationTap.safeParse(tap);
    if (!checked.success) {
      this.logger.error(
        { station: tap.station, err: describeIssues(checked.error) },
        'station tap not published',
      );
      return;
    }
    this.publish(localTopics.taps(tap.station), checked.data, false);
  }

  /** A tagged item held to a station's reader, to the terminals subscribed to its items (not retained). */
  publishItem(item: ItemPresented): void {
    const checked = ItemPresented.safeParse(item);
    if (!checked.success) {
      this.logger.error(
        { station: item.station, err: describeIssues(checked.error) },
        'tagged item not published',
      );
      return;
    }
    this.publish(localTopics.items(item.station), checked.data, false);
  }

  /** The gateway's state, retained: call it when the uplink or the roster changes. */
  publishState(): void {
    let state: LocalGatewayState;
    try {
      state = this.options.state();
    } catch (error) {
      this.logger.error({ err: (error as Error).message }, 'gateway state not published');
      return;
    }
    this.publish(localTopics.gatewayState(), state, true);
  }

  /** What a station's kiosk shows, retained on its view topic. */
  publishView(stationId: string): void {
    const station = this.stations.get(stationId);
    if (!station?.view) return;
    let view: Record<string, unknown>;
    try {
      view = station.view();
    } catch (error) {
      this.logger.error({ station: stationId, err: (error as Error).message }, 'station view not published');
      return;
    }
    const message = { v: SPEC_VERSION, station: stationId, at: this.isoNow(), view };
    this.publish(localTopics.view(stationId), message, true);
  }

  /**
   * One publish at a time: aedes (1.x) loses a retained message for live subscribers when another
   * publish starts in the same tick, while it stores the retained one (a tap and the view it changed).
   */
  private publish(topic: string, message: unknown, retain: boolean): void {
    const payload = Buffer.from(JSON.stringify(message));
    this.publishing = this.publishing.then(
      () =>
        new Promise<void>((resolve) => {
          const aedes = this.aedes;
          if (!aedes || aedes.closed) {
            resolve();
            return;
          }
          aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain, dup: false }, (error) => {
            if (error) this.logger.error({ topic, err: error.message }, 'terminal broker publish failed');
            resolve();
          });
        }),
    );
  }

  private isoNow(): string {
    return new Date(this.now()).toISOString();
  }

  private hook(aedes: Aedes): void {
    const { logger } = this;
    aedes.authenticate = (client, username, password, done) => {
      const terminal = username === undefined ? undefined : this.terminals.get(username);
      const matches = passwordMatches(
        password?.toString('utf8') ?? '',
        terminal?.passwordSha256 ?? NO_DIGEST,
      );
      const remote = remoteOf(client);
      if (!terminal || !matches) {
        logger.warn(
          { terminal: username?.slice(0, 64), clientId: client.id.slice(0, 128), remote },
          'terminal refused: bad user name or password',
        );
        return done(authError('bad user name or password', BAD_CREDENTIALS), false);
      }
      if (client.id !== terminal.id && !client.id.startsWith(`${terminal.id}:`)) {
        logger.warn(
          { terminal: terminal.id, clientId: client.id.slice(0, 128), remote },
          'terminal refused: its client id must be its terminal id, or start with it and ":"',
        );
        return done(authError('client id not allowed for this terminal', IDENTIFIER_REJECTED), false);
      }
      this.principals.set(client, { id: terminal.id, stations: terminal.stations });
      this.listeners.authenticated(client.conn);
      logger.info({ terminal: terminal.id, clientId: client.id, remote }, 'terminal connected');
      done(null, true);
    };
    aedes.authorizePublish = (client, packet, callback) => {
      const principal = client ? this.principals.get(client) : undefined;
      if (principal && mayPublish(principal, packet.topic)) {
        packet.retain = false; // a request is for now, never kept for later subscribers
        return callback(null);
      }
      logger.warn(
        { terminal: principal?.id, topic: packet.topic },
        'terminal publish refused: outside its ACL',
      );
      // MQTT 3.1.1 has no refusal for a publish: aedes closes the connection.
      callback(new Error('publish not authorized'));
    };
    aedes.authorizeSubscribe = (client, subscription, callback) => {
      const principal = this.principals.get(client);
      if (principal && maySubscribe(principal, subscription.topic)) return callback(null, subscription);
      logger.warn(
        { terminal: principal?.id, topic: subscription.topic },
        'terminal subscription refused: outside its ACL',
      );
      // A null subscription is granted as 0x80 (failure) and leaves the connection up.
      callback(null, null);
    };
    aedes.on('clientDisconnect', (client) => {
      const principal = this.principals.get(client);
      if (principal) logger.info({ terminal: principal.id, clientId: client.id }, 'terminal disconnected');
    });
    aedes.on('clientError', (client, error) =>
      logger.warn(
        { terminal: this.principals.get(client)?.id, err: error.message },
        'terminal connection error',
      ),
    );
    aedes.on('connectionError', (client, error) =>
      logger.warn({ remote: remoteOf(client), err: error.message }, 'terminal connection failed'),
    );
    aedes.on('publish', (packet, client) => {
      const principal = client ? this.principals.get(client) : undefined;
      const station = requestStation(packet.topic);
      if (!principal || station === undefined) return;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      this.route(principal, station, payload).catch((error: unknown) =>
        logger.error({ terminal: principal.id, station, err: String(error) }, 'terminal request lost'),
      );
    });
  }

  /** One request from an authenticated terminal: checked, handed to its station, answered. */
  private async route(terminal: TerminalPrincipal, stationId: string, payload: Buffer): Promise<void> {
    const checked = this.check(terminal, stationId, payload);
    if ('failure' in checked) {
      const { id, failure } = checked;
      this.logger.warn(
        { terminal: terminal.id, station: stationId, id, reason: failure.reason, err: failure.message },
        'terminal request refused',
      );
      if (id !== undefined) this.reply(terminal, stationId, id, { status: 'error', ...failure });
      return;
    }
    const { request, station } = checked;
    let answer: StationReply;
    try {
      answer = await station.handle(request);
    } catch (error) {
      this.logger.error(
        {
          terminal: terminal.id,
          station: stationId,
          request: request.name,
          id: request.id,
          err: error instanceof Error ? (error.stack ?? error.message) : String(error),
        },
        'station failed a terminal request',
      );
      answer = INTERNAL;
    }
    this.reply(terminal, stationId, request.id, answer);
  }

  /** A request as the contract says it must be, or why not (with its id when it has a usable one). */
  private check(
    terminal: TerminalPrincipal,
    stationId: string,
    payload: Buffer,
  ): { request: TerminalRequest; station: TerminalStation } | { id: string | undefined; failure: Failure } {
    const malformed = (id: string | undefined, message: string) => ({
      id,
      failure: { reason: 'malformed', message: message.slice(0, 512) },
    });
    let raw: unknown;
    try {
      raw = JSON.parse(payload.toString('utf8'));
    } catch (error) {
      return malformed(undefined, `not JSON: ${(error as Error).message}`);
    }
    const id = idOf(raw);
    // Read all the same (the broker's packet limit bounds it), so that the answer can carry its id.
    if (payload.length > MAX_REQUEST_BYTES) {
      return malformed(id, `request is ${payload.length} bytes, the limit is ${MAX_REQUEST_BYTES}`);
    }
    const version = (raw as { v?: unknown } | null)?.v;
    if (typeof version === 'number' && version !== SPEC_VERSION) {
      return malformed(id, `message is contract version ${version}, this gateway speaks ${SPEC_VERSION}`);
    }
    const parsed = TerminalRequest.safeParse(raw);
    if (!parsed.success) return malformed(id, describeIssues(parsed.error));
    const request = parsed.data;
    if (request.terminal !== terminal.id) {
      const message = `the request names terminal "${request.terminal}" but came from "${terminal.id}"`;
      return { id: request.id, failure: { reason: 'terminal-mismatch', message } };
    }
    const station = this.stations.get(stationId);
    if (!station) {
      return {
        id: request.id,
        failure: { reason: 'unknown-station', message: `no station "${stationId}" here` },
      };
    }
    return { request, station };
  }

  /** Publishes the answer to the terminal that asked (never to the one a request names). */
  private reply(terminal: TerminalPrincipal, stationId: string, id: string, answer: StationReply): void {
    const at = this.isoNow();
    const checked = TerminalReply.safeParse({ ...answer, v: SPEC_VERSION, id, at });
    if (!checked.success) {
      this.logger.error(
        { terminal: terminal.id, station: stationId, id, err: describeIssues(checked.error) },
        'station answered outside the contract',
      );
    }
    const reply = checked.success ? checked.data : { ...INTERNAL, v: SPEC_VERSION, id, at };
    this.publish(localTopics.replies(stationId, terminal.id), reply, false);
  }
}

const INTERNAL: StationReply = {
  status: 'error',
  reason: 'internal',
  message: 'the station could not handle this request; it was logged',
};

/** A request's id, when the message has a usable one, so even a malformed request gets its answer. */
function idOf(raw: unknown): string | undefined {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : undefined;
}
