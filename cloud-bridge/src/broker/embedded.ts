import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { sameSecret } from '@educard/terminal-sdk';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
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
  logger: Logger;
}

const BAD_CREDENTIALS = 4;
const NOT_AUTHORIZED = 5;

function authError(message: string, code: number): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

/**
 * aedes, embedded: devices authenticate with their enrollment credentials and an ACL keeps each to its
 * own topics. One process runs it all; a district points the bridge at a broker cluster instead. As
 * the device accounts it has nothing to provision (it checks the store at every connect) and cuts a
 * removed device's live connection.
 */
export class EmbeddedBroker implements DeviceAccounts {
  readonly kind = 'embedded';
  private readonly principals = new WeakMap<Client, BrokerPrincipal>();
  private tcp: Server | undefined;
  private ws: WebSocketServer | undefined;

  private constructor(
    readonly aedes: Aedes,
    private readonly options: EmbeddedBrokerOptions,
  ) {}

  static async start(options: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
    const aedes = await Aedes.createBroker({ heartbeatInterval: 30_000 });
    const broker = new EmbeddedBroker(aedes, options);
    broker.hook();
    await broker.listen();
    return broker;
  }

  get port(): number {
    return (this.tcp?.address() as AddressInfo | undefined)?.port ?? 0;
  }

  get wsPort(): number | undefined {
    return (this.ws?.address() as AddressInfo | undefined)?.port;
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
    await new Promise<void>((resolve) => this.ws?.close(() => resolve()) ?? resolve());
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await new Promise<void>((resolve) => this.tcp?.close(() => resolve()) ?? resolve());
  }

  private hook(): void {
    const { aedes } = this;
    const { logger, bridgeCredentials, authenticateDevice } = this.options;
    aedes.on('clientError', (client, error) =>
      logger.warn({ clientId: client.id, err: error.message }, 'broker client error'),
    );
    aedes.on('connectionError', (client, error) =>
      logger.warn({ clientId: client.id, err: error.message }, 'broker connection error'),
    );
    aedes.authenticate = (client, username, password, done) => {
      const secret = password?.toString('utf8') ?? '';
      if (username === bridgeCredentials.username && sameSecret(secret, bridgeCredentials.password)) {
        this.principals.set(client, { kind: 'bridge' });
        return done(null, true);
      }
      const principal = username ? authenticateDevice(username, secret) : undefined;
      if (principal?.kind !== 'device' || principal.device !== client.id) {
        logger.warn({ clientId: client.id, username }, 'broker refused a connection: bad credentials');
        return done(authError('bad user name or password', BAD_CREDENTIALS), false);
      }
      this.principals.set(client, principal);
      done(null, true);
    };
    aedes.authorizePublish = (client, packet, callback) => {
      const principal = client ? this.principals.get(client) : { kind: 'bridge' as const };
      if (principal && mayPublish(principal, packet.topic)) return callback(null);
      logger.warn({ clientId: client?.id, topic: packet.topic }, 'broker refused a publish outside the ACL');
      callback(authError('not authorized', NOT_AUTHORIZED));
    };
    aedes.authorizeSubscribe = (client, subscription, callback) => {
      const principal = this.principals.get(client);
      if (principal && maySubscribe(principal, subscription.topic)) return callback(null, subscription);
      logger.warn(
        { clientId: client.id, topic: subscription.topic },
        'broker refused a subscription outside the ACL',
      );
      // A null subscription is granted as 0x80 (failure) and leaves the connection up.
      callback(null, null);
    };
  }

  private async listen(): Promise<void> {
    const { host, port, wsPort } = this.options;
    this.tcp = createServer(this.aedes.handle);
    await new Promise<void>((resolve, reject) => {
      this.tcp?.once('error', reject);
      this.tcp?.listen(port, host, () => resolve());
    });
    if (wsPort === undefined) return;
    this.ws = new WebSocketServer({ host, port: wsPort });
    this.ws.on('connection', (socket, request) => {
      this.aedes.handle(createWebSocketStream(socket), request);
    });
    await new Promise<void>((resolve) => this.ws?.once('listening', () => resolve()));
  }
}
