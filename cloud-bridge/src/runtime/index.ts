import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Logger, pino } from 'pino';
import { EmbeddedBroker } from '../broker/index.js';
import type { BridgeConfig } from '../config/index.js';
import { authenticateDevice } from '../devices/index.js';
import { Directory } from '../directory/index.js';
import { buildHttpApi } from '../http/index.js';
import { Ingest } from '../ingest/index.js';
import { CatalogueService } from '../library/index.js';
import { RosterKeyring, RosterService } from '../roster/index.js';
import { openSqliteStore, type SqliteBridgeStore } from '../store/index.js';

/**
 * The cloud bridge: store, broker (embedded or external), ingest and HTTP API, started in that order
 * and stopped in reverse. The bridge reaches even its embedded broker as an ordinary MQTT client, so
 * the ingest path is the same whatever broker a district runs.
 */
export class Bridge {
  private constructor(
    readonly config: BridgeConfig,
    readonly logger: Logger,
    readonly store: SqliteBridgeStore,
    readonly directory: Directory,
    readonly broker: EmbeddedBroker | undefined,
    readonly client: MqttClient,
    readonly ingest: Ingest,
    readonly http: ReturnType<typeof buildHttpApi>,
  ) {}

  static async start(
    config: BridgeConfig,
    logger: Logger = pino({ name: 'bridge', level: config.log.level }),
  ): Promise<Bridge> {
    await mkdir(config.dataDir, { recursive: true });
    const store = openSqliteStore(join(config.dataDir, 'bridge.db'), { logger });
    const directory = new Directory(store.database);
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
          logger,
        })
      : undefined;
    const url = broker ? `mqtt://${config.mqtt.host}:${broker.port}` : (config.mqtt.url as string);
    const client = await mqtt.connectAsync(url, {
      clientId: credentials.username,
      clean: true,
      reconnectPeriod: 1000,
      ...(broker ? credentials : { username: config.mqtt.username, password: config.mqtt.password }),
    });
    const ingest = new Ingest({
      store,
      client,
      logger,
      ...(config.mqtt.shareGroup ? { shareGroup: config.mqtt.shareGroup } : {}),
    });
    await ingest.start();
    const roster = new RosterService({
      store,
      client,
      keys: await RosterKeyring.open(config.dataDir),
      logger,
    });
    await roster.start();
    const catalogue = new CatalogueService({ store, client, keys: roster.keys, logger });
    await catalogue.start();
    const http = buildHttpApi({
      store,
      roster,
      adminToken: config.adminToken,
      logger,
      mqttUrl: () => config.mqtt.publicUrl ?? url,
      onRevoke: (id) => broker?.disconnect(id),
      health: () => ({ mqtt: client.connected, ingest: ingest.stats }),
      library: { catalogue, store },
      audit: { record: (entry) => logger.info({ audit: entry }, 'audit') },
    });
    await http.listen({ host: config.http.host, port: config.http.port });
    const bridge = new Bridge(config, logger, store, directory, broker, client, ingest, http);
    logger.info({ mqtt: url, http: bridge.httpUrl }, 'bridge started');
    return bridge;
  }

  get httpUrl(): string {
    const address = this.http.server.address() as AddressInfo;
    return `http://${this.config.http.host}:${address.port}`;
  }

  get mqttUrl(): string {
    return this.broker
      ? `mqtt://${this.config.mqtt.host}:${this.broker.port}`
      : (this.config.mqtt.url as string);
  }

  async stop(): Promise<void> {
    await this.http.close();
    await this.client.endAsync();
    await this.broker?.stop();
    this.store.close();
    this.logger.info('bridge stopped');
  }
}
