import { readFile } from 'node:fs/promises';
import { writeFilesDurable } from '@educard/terminal-sdk/files';
import bcrypt from 'bcryptjs';
import type { Logger } from 'pino';
import type { DeviceAccount, DeviceAccounts } from './accounts.js';
import { deviceTopics } from './acl.js';

/** One NATS server of the cluster: how to tell it to reload, and how to see that it has. */
export interface NatsNode {
  /** The pid file the server writes (`pid_file`); it is sent SIGHUP, NATS's reload signal. */
  pidFile: string;
  /** Its monitoring endpoint (`http`), whose `/varz` says when the configuration was last loaded. */
  monitorUrl: string;
}

export interface NatsDeviceAccountsOptions {
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
 * enrollments cost a handful of reloads. The bridge keeps the hashes in a state file beside the auth
 * file, the broker's user database, and renders the auth file from it.
 */
export class NatsDeviceAccounts implements DeviceAccounts {
  readonly kind = 'nats';
  private readonly held = new Map<string, Held>();
  private bridgeHash = '';
  private running: Promise<void> = Promise.resolve();
  private next: Promise<void> | undefined;

  private constructor(private readonly options: NatsDeviceAccountsOptions) {}

  static async open(options: NatsDeviceAccountsOptions): Promise<NatsDeviceAccounts> {
    const accounts = new NatsDeviceAccounts(options);
    const text = await readFile(accounts.stateFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '{"devices":{}}';
      throw error;
    });
    let state: { devices: Record<string, Held> };
    try {
      state = JSON.parse(text) as { devices: Record<string, Held> };
    } catch {
      throw new Error(
        `${accounts.stateFile} is not JSON: restore it or delete it to provision every device again`,
      );
    }
    for (const [device, held] of Object.entries(state.devices ?? {})) accounts.held.set(device, held);
    accounts.bridgeHash = await bcrypt.hash(options.bridgeUser.password, options.hashRounds);
    return accounts;
  }

  get stateFile(): string {
    return `${this.options.authFile}.state.json`;
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
    this.held.set(account.device, { school: account.school, hash });
    await this.apply();
    this.options.logger.info(
      { device: account.device, school: account.school },
      'broker account provisioned',
    );
  }

  async remove(device: string): Promise<void> {
    this.held.delete(device);
    await this.apply();
    this.options.logger.info({ device }, 'broker account removed on every node');
  }

  async reconcile(active: { device: string; school: string }[]): Promise<void> {
    const schools = new Map(active.map((a) => [a.device, a.school]));
    const dropped = [...this.held].filter(([device, held]) => schools.get(device) !== held.school);
    for (const [device] of dropped) this.held.delete(device);
    const missing = active.filter((a) => !this.held.has(a.device)).length;
    if (dropped.length || missing)
      this.options.logger.warn(
        { dropped: dropped.map(([device]) => device), withoutAccount: missing },
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
    const { authFile, nodes } = this.options;
    const devices = Object.fromEntries([...this.held].sort(([a], [b]) => a.localeCompare(b)));
    const before = await Promise.all(nodes.map((node) => this.loadedAt(node)));
    await writeFilesDurable([
      { path: this.stateFile, data: `${JSON.stringify({ devices })}\n`, mode: 0o640 },
      { path: authFile, data: this.render(), mode: 0o640 },
    ]);
    await Promise.all(nodes.map((node, i) => this.reload(node, before[i] as string)));
  }

  private render(): string {
    const user = (name: string, hash: string, permissions: unknown) =>
      `    { user: ${JSON.stringify(name)}, password: ${JSON.stringify(hash)}, permissions: ${JSON.stringify(permissions)} }`;
    const users = [
      // Every user names its permissions: a user without any makes NATS 2.9.10 crash on reload.
      user(this.options.bridgeUser.username, this.bridgeHash, { publish: '>', subscribe: '>' }),
      ...[...this.held].map(([device, held]) =>
        user(device, held.hash, natsPermissions({ device, school: held.school })),
      ),
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
