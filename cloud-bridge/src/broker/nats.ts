import { readFile, rename } from 'node:fs/promises';
import { writeFileDurableSync } from '@educard/terminal-sdk/files';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import { lockWithinTransaction, type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';
import { type DeviceAccount, type DeviceAccounts, unmanagedAccounts } from './accounts.js';
import { deviceTopics } from './acl.js';

/** The devices' broker users, in the database that every bridge instance shares. */
const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE broker_accounts (
       device TEXT PRIMARY KEY,
       school TEXT NOT NULL,
       hash TEXT NOT NULL
     );`,
  ],
  postgres: [
    `CREATE TABLE broker_accounts (
       device TEXT COLLATE "C" PRIMARY KEY,
       school TEXT NOT NULL,
       hash TEXT NOT NULL
     );`,
  ],
};

/** One NATS server of the cluster: how to tell it to reload, and how to see that it has. */
export interface NatsNode {
  /** The pid file the server writes (`pid_file`); it is sent SIGHUP, NATS's reload signal. */
  pidFile: string;
  /** Its monitoring endpoint (`http`), whose `/varz` says when the configuration was last loaded. */
  monitorUrl: string;
}

export interface NatsDeviceAccountsOptions {
  /** Where the accounts are kept: the store's database, shared by every bridge instance. */
  db: SqlDatabase;
  /** The file every node's configuration includes; the bridge owns it and rewrites it whole. */
  authFile: string;
  nodes: NatsNode[];
  /** The bridge's own user, which may publish and subscribe anywhere. */
  bridgeUser: { username: string; password: string };
  /**
   * bcrypt cost of the password hashes in the file. A device password is 192 random bits, so the
   * hash guards a leaked file, not a guessable secret; NATS checks it at every connect, so it is low.
   */
  hashRounds: number;
  /** How long a node may take to show the new configuration loaded. */
  reloadTimeoutMs?: number;
  logger: Logger;
}

interface Held {
  school: string;
  hash: string;
}

/** MQTT topic filter to NATS subject, as the NATS MQTT listener maps them: `/` is `.`, `+` is `*`, `#` is `>`. */
export function natsSubject(filter: string): string {
  return filter
    .split('/')
    .map((level) => (level === '+' ? '*' : level === '#' ? '>' : level))
    .join('.');
}

/** A device's permissions in NATS terms; `$MQTT.sub.>` is where the listener delivers QoS 1 (MQTT clients cannot name it). */
export function natsPermissions(principal: { school: string; device: string }): {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
} {
  const topics = deviceTopics(principal);
  const subscribe = topics.subscribe.flatMap((filter) =>
    // `a/#` also matches `a` itself, and the listener subscribes to both subjects.
    filter.endsWith('/#') ? [natsSubject(filter), natsSubject(filter.slice(0, -2))] : [natsSubject(filter)],
  );
  return {
    publish: { allow: topics.publish.map(natsSubject) },
    subscribe: { allow: ['$MQTT.sub.>', ...new Set(subscribe)] },
  };
}

/**
 * Device accounts in a NATS cluster (NATS 2.9 with its MQTT listener): users with bcrypt passwords and
 * per-user subject permissions, written into the configuration file every node includes, then a
 * configuration reload on every node. NATS closes the connections of a user a reload removes, on
 * whichever node they are. Changes that arrive while a reload runs share the next one, so thousands of
 * enrollments cost a handful of reloads. The hashes are kept in the database (`broker_accounts`), so
 * several bridge instances enrolling at once all write the whole of it: each renders the file from
 * the table under a lock, so the file last written holds every account committed before it.
 */
export class NatsDeviceAccounts implements DeviceAccounts {
  readonly kind = 'nats';
  private bridgeHash = '';
  private running: Promise<void> = Promise.resolve();
  private next: Promise<void> | undefined;
  private readonly sql;

  private constructor(private readonly options: NatsDeviceAccountsOptions) {
    const { db } = options;
    migrateModule(db, 'broker-accounts', STEPS);
    this.sql = {
      all: db.prepare<[], { device: string; school: string; hash: string }>(
        'SELECT device, school, hash FROM broker_accounts ORDER BY device',
      ),
      count: db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM broker_accounts'),
      put: db.prepare<[string, string, string]>(
        `INSERT INTO broker_accounts (device, school, hash) VALUES (?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET school = excluded.school, hash = excluded.hash`,
      ),
      remove: db.prepare<[string]>('DELETE FROM broker_accounts WHERE device = ?'),
    };
  }

  static async open(options: NatsDeviceAccountsOptions): Promise<NatsDeviceAccounts> {
    const accounts = new NatsDeviceAccounts(options);
    await accounts.importStateFile();
    accounts.bridgeHash = await bcrypt.hash(options.bridgeUser.password, options.hashRounds);
    return accounts;
  }

  /** Where the version before kept the hashes: taken into the table once, then set aside. */
  private get stateFile(): string {
    return `${this.options.authFile}.state.json`;
  }

  private async importStateFile(): Promise<void> {
    const text = await readFile(this.stateFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text === undefined) return;
    let state: { devices: Record<string, Held> };
    try {
      state = JSON.parse(text) as { devices: Record<string, Held> };
    } catch {
      throw new Error(
        `${this.stateFile} is not JSON: restore it or delete it to provision every device again`,
      );
    }
    const devices = Object.entries(state.devices ?? {});
    this.options.db.transaction(() => {
      if (Number(this.sql.count.get()?.count) > 0) return;
      for (const [device, held] of devices) this.sql.put.run(device, held.school, held.hash);
    })();
    await rename(this.stateFile, `${this.stateFile}.imported`);
    this.options.logger.info({ devices: devices.length }, 'broker accounts taken into the database');
  }

  /** NATS 2.9's MQTT listener refuses any topic with a `.` in it, and ids become topic levels. */
  refusal(name: string): string | undefined {
    return name.includes('.')
      ? `"${name}" has a ".", which the NATS MQTT listener cannot carry in a topic: name it with letters, digits, "_" and "-"`
      : undefined;
  }

  async provision(account: DeviceAccount): Promise<void> {
    const refusal = this.refusal(account.device) ?? this.refusal(account.school);
    if (refusal) throw new Error(refusal);
    const hash = await bcrypt.hash(account.password, this.options.hashRounds);
    this.sql.put.run(account.device, account.school, hash);
    await this.apply();
    this.options.logger.info(
      { device: account.device, school: account.school },
      'broker account provisioned',
    );
  }

  async remove(device: string): Promise<void> {
    this.sql.remove.run(device);
    await this.apply();
    this.options.logger.info({ device }, 'broker account removed on every node');
  }

  async reconcile(active: { device: string; school: string }[]): Promise<void> {
    const schools = new Map(active.map((a) => [a.device, a.school]));
    const held = this.sql.all.all();
    const dropped = held.filter((row) => schools.get(row.device) !== row.school).map((row) => row.device);
    this.options.db.transaction(() => {
      for (const device of dropped) this.sql.remove.run(device);
    })();
    const kept = new Set(held.map((row) => row.device));
    const missing = active.filter((a) => !kept.has(a.device)).length;
    if (dropped.length || missing)
      this.options.logger.warn(
        { dropped, withoutAccount: missing },
        'broker accounts reconciled with the enrolled devices: those without one must enroll again',
      );
    await this.apply();
  }

  /** Writes and reloads; a change made while one runs waits for the next, which carries every change so far. */
  private apply(): Promise<void> {
    if (!this.next) {
      const next = this.running.then(() => {
        this.next = undefined;
        return this.writeAndReload();
      });
      this.next = next;
      this.running = next.catch(() => undefined);
    }
    return this.next;
  }

  private async writeAndReload(): Promise<void> {
    const { authFile, nodes, db } = this.options;
    const before = await Promise.all(nodes.map((node) => this.loadedAt(node)));
    // Read and written under the lock (so synchronously), so that another instance's older rendering
    // never lands last.
    db.transaction(() => {
      lockWithinTransaction(db, 'broker_accounts');
      writeFileDurableSync(authFile, this.render(this.sql.all.all()), 0o640);
    })();
    await Promise.all(nodes.map((node, i) => this.reload(node, before[i] as string)));
  }

  private render(accounts: { device: string; school: string; hash: string }[]): string {
    const user = (name: string, hash: string, permissions: unknown) =>
      `    { user: ${JSON.stringify(name)}, password: ${JSON.stringify(hash)}, permissions: ${JSON.stringify(permissions)} }`;
    const users = [
      // Every user names its permissions: a user without any makes NATS 2.9.10 crash on reload.
      user(this.options.bridgeUser.username, this.bridgeHash, { publish: '>', subscribe: '>' }),
      ...accounts.map(({ device, school, hash }) => user(device, hash, natsPermissions({ device, school }))),
    ];
    return `# Written by educard-bridge from its device accounts; edits here are overwritten.\nauthorization {\n  users = [\n${users.join('\n')}\n  ]\n}\n`;
  }

  private async loadedAt(node: NatsNode): Promise<string> {
    const response = await fetch(new URL('/varz', node.monitorUrl), { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`${node.monitorUrl}/varz answered ${response.status}`);
    return ((await response.json()) as { config_load_time: string }).config_load_time;
  }

  private async reload(node: NatsNode, before: string): Promise<void> {
    const pid = Number((await readFile(node.pidFile, 'utf8')).trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${node.pidFile} holds no pid`);
    process.kill(pid, 'SIGHUP');
    const deadline = Date.now() + (this.options.reloadTimeoutMs ?? 10_000);
    while ((await this.loadedAt(node)) === before) {
      if (Date.now() > deadline)
        throw new Error(`NATS node ${node.monitorUrl} did not reload its configuration in time`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** The device accounts of an external broker: provisioned by the bridge when configured, else the broker's own business. */
export async function externalDeviceAccounts(
  mqtt: {
    deviceAccounts?: Pick<NatsDeviceAccountsOptions, 'authFile' | 'nodes' | 'hashRounds'>;
    username?: string;
    password?: string;
  },
  db: SqlDatabase,
  logger: Logger,
): Promise<DeviceAccounts> {
  const settings = mqtt.deviceAccounts;
  if (!settings) return unmanagedAccounts(logger);
  return NatsDeviceAccounts.open({
    db,
    authFile: settings.authFile,
    nodes: settings.nodes,
    hashRounds: settings.hashRounds,
    bridgeUser: { username: mqtt.username as string, password: mqtt.password as string },
    logger,
  });
}
