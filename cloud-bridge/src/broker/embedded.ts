import { sameSecret } from '@educard/terminal-sdk';
import { BrokerListeners } from '@educard/terminal-sdk/broker-listeners';
import type { MqttListenerLimits } from '@educard/terminal-sdk/listeners';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { logFailure } from '../store/index.js';
import type { DeviceAccounts } from './accounts.js';
import { type BrokerPrincipal, mayPublish, maySubscribe } from './acl.js';

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  /** WebSocket listener for pages; 0 picks a free port, undefined turns it off. */
  wsPort?: number;
  /** Checks a device's broker credentials: its id and the secret it got at enrollment. */
  authenticateDevice: (username: string, password: string) => BrokerPrincipal | undefined;
  /** The bridge's own credentials, made fresh at every start. */
  bridgeCredentials: { username: string; password: string };
  /** Connections, packet sizes and the connect timeout (docs/security.md). */
  limits: MqttListenerLimits;
  logger: Logger;
}

/** What the broker turned away since it started, by reason: what /health shows. */
export interface BrokerRefusals {
  /** CONNECTs with a wrong user name or password. */
  credentials: number;
  /** Connections over a cap: in all, from one address, or not yet authenticated. */
  limits: number;
  /** Connections closed for a packet over its size limit (or a first packet that was no CONNECT). */
  oversized: number;
  /** Connections that sent no complete CONNECT within the connect timeout. */
  timeouts: number;
  /** CONNECTs answered "server unavailable": the device store could not be read (its database unreachable). */
  unavailable: number;
}

/** A log field from the wire, cut to a length a log line can take. */
const short = (value: string | undefined) => value?.slice(0, 128);

/** MQTT 3.1.1 CONNACK codes: the device tries again later (3), or its credentials are refused (4). */
const SERVER_UNAVAILABLE = 3;
const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

function authError(message: string, code: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

/**
 * aedes, embedded: devices authenticate with their enrollment credentials and an ACL keeps each to its
 * own topics. One process runs it all; a district points the bridge at a broker cluster instead.
 * Its listeners hold every connection to the limits before aedes reads a byte of it. As the device
 * accounts it has nothing to provision (it checks the store at every connect) and cuts a removed
 * device's live connection.
 */
export class EmbeddedBroker implements DeviceAccounts {
  readonly kind = 'embedded';
  private readonly principals = new WeakMap<Client, BrokerPrincipal>();
  private readonly listeners: BrokerListeners;
  private readonly counted = { credentials: 0, timeouts: 0, unavailable: 0 };

  private constructor(
    readonly aedes: Aedes,
    private readonly options: EmbeddedBrokerOptions,
  ) {
    this.listeners = new BrokerListeners({
      handle: (stream, request) => aedes.handle(stream, request),
      limits: options.limits,
      logger: options.logger,
      name: 'bridge broker',
    });
  }

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker({
      heartbeatInterval: 30_000,
      connectTimeout: options.limits.connectTimeoutMs,
    });
    const broker = new EmbeddedBroker(aedes, options);
    broker.hook();
    await broker.listen();
    return broker;
  }

  get port(): number {
    return this.listeners.tcpPort ?? 0;
  }

  get wsPort(): number | undefined {
    return this.listeners.wsPort;
  }

  /** Connections open now, and what was turned away since the start. */
  get stats(): { connections: number; refused: BrokerRefusals } {
    return { connections: this.listeners.open, refused: { ...this.counted, ...this.listeners.refused } };
  }

  refusal(): undefined {
    return undefined;
  }

  async provision(): Promise<void> {}

  async reconcile(): Promise<void> {}

  /** Cuts a device's live connection (after it is revoked); the store refuses it from then on. */
  async remove(device: string): Promise<void> {
    const client = (this.aedes as unknown as { clients: Record<string, Client | undefined> }).clients[device];
    client?.close();
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await this.listeners.close();
  }

  private hook(): void {
    const { aedes } = this;
    const { logger, bridgeCredentials, authenticateDevice } = this.options;
    aedes.on('clientError', (client, error) =>
      logger.warn({ clientId: short(client.id), err: error.message }, 'broker client error'),
    );
    aedes.on('connectionError', (client, error) => {
      if (/connect did not arrive in time/.test(error.message)) this.counted.timeouts += 1;
      logger.warn({ clientId: short(client.id), err: error.message }, 'broker connection error');
    });
    aedes.authenticate = (client, username, password, done) => {
      const secret = password?.toString('utf8') ?? '';
      if (username === bridgeCredentials.username && sameSecret(secret, bridgeCredentials.password)) {
        this.principals.set(client, { kind: 'bridge' });
        this.listeners.authenticated(client.conn);
        return done(null, true);
      }
      let principal: BrokerPrincipal | undefined;
      try {
        principal = username ? authenticateDevice(username, secret) : undefined;
      } catch (error) {
        // The device store cannot be read (its database unreachable): not the device's fault, and
        // not a reason for the broker, with every connection it holds, to go down.
        logFailure(
          logger,
          { clientId: short(client.id), err: error },
          "broker could not check a device's credentials",
        );
        this.counted.unavailable += 1;
        return done(authError('server unavailable', SERVER_UNAVAILABLE), false);
      }
      if (principal?.kind !== 'device' || principal.device !== client.id) {
        this.counted.credentials += 1;
        logger.warn(
          { clientId: short(client.id), username: short(username) },
          'broker refused a connection: bad credentials',
        );
        return done(authError('bad user name or password', BAD_CREDENTIALS), false);
      }
      this.principals.set(client, principal);
      this.listeners.authenticated(client.conn);
      done(null, true);
    };
    aedes.authorizePublish = (client, packet, callback) => {
      const principal = client ? this.principals.get(client) : { kind: 'bridge' as const };
      if (principal && mayPublish(principal, packet.topic)) return callback(null);
      logger.warn(
        { clientId: short(client?.id), topic: short(packet.topic) },
        'broker refused a publish outside the ACL',
      );
      callback(authError('not authorized', NOT_AUTHORIZED));
    };
    aedes.authorizeSubscribe = (client, subscription, callback) => {
      const principal = this.principals.get(client);
      if (principal && maySubscribe(principal, subscription.topic)) return callback(null, subscription);
      logger.warn(
        { clientId: short(client.id), topic: short(subscription.topic) },
        'broker refused a subscription outside the ACL',
      );
      // A null subscription is granted as 0x80 (failure) and leaves the connection up.
      callback(null, null);
    };
  }

  private async listen(): Promise<void> {
    const { host, port, wsPort } = this.options;
    await this.listeners.listenTcp(host, port);
    if (wsPort !== undefined) await this.listeners.listenWebSocket(host, wsPort);
  }
}
