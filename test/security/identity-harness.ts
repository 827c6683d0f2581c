import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateKeyPair, toBase64Url } from '@educard/terminal-sdk';
import mqtt, { type MqttClient } from 'mqtt';
import { expect } from 'vitest';
import { BRIDGE_CLI, bridgeCli, educard, initBridge } from '../support/cli.js';
import { type Child, exited, startNode } from '../support/processes.js';

/** On a loaded machine (other suites beside this one) a process was seen to take over 30 s to start. */
export const START_MS = 90_000;
/** What a file's set-up may take: a bridge made with `init` and started, and what it needs beside. */
export const SET_UP_MS = 3 * START_MS;

/** `educard-bridge serve --config FILE` as a child process, once it has logged that it started. */
export async function serve(config: string) {
  const child = startNode(BRIDGE_CLI, ['serve', '--config', config]);
  const started = await child.waitFor((line) => line.msg === 'bridge started', START_MS);
  return { child, http: String(started.http), mqtt: String(started.mqtt) };
}

/**
 * The parts the identity and data attacks share: `educard-bridge init` and `serve` as a child
 * process, its admin API as an operator (or an outsider) calls it, and gateways provisioned, enrolled
 * and run the way docs/install.md has it, each a real process whose taps come on standard input.
 */
export class IdentityRig {
  readonly services: Child[] = [];

  private constructor(
    readonly dir: string,
    readonly bridgeConfig: string,
    readonly adminToken: string,
    readonly anchor: string,
    readonly fingerprint: string,
    /** The root key file `init` wrote, as a technician keeps it offline. */
    readonly rootKey: string,
    readonly bridge: Awaited<ReturnType<typeof serve>>,
  ) {}

  /** `settings` go into bridge.json over what `init` wrote, before the bridge starts. */
  static async start(dir: string, settings: Record<string, unknown> = {}): Promise<IdentityRig> {
    const { config, anchor, fingerprint, rootKey } = await initBridge(join(dir, 'bridge'));
    const written = JSON.parse(await readFile(config, 'utf8')) as { adminToken: string };
    await writeFile(config, JSON.stringify({ ...written, ...settings }));
    const { adminToken } = written;
    return new IdentityRig(dir, config, adminToken, anchor, fingerprint, rootKey, await serve(config));
  }

  get http(): string {
    return this.bridge.http;
  }

  /** `educard-bridge ARGS` against this bridge. */
  cli(...args: string[]) {
    return bridgeCli([...args, '--config', this.bridgeConfig]);
  }

  /** The admin API with the admin token; `anonymous` leaves the token out. */
  async api(method: string, path: string, body?: unknown, anonymous = false) {
    const response = await fetch(`${this.http}${path}`, {
      method,
      headers: {
        ...(anonymous ? {} : { authorization: `Bearer ${this.adminToken}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, text, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  }

  /** A one-time token of the school, bound to `device` when given. */
  async token(school = 'school-1', device?: string): Promise<string> {
    const made = await this.api('POST', '/v1/tokens', { school, ...(device ? { device } : {}) });
    expect(made.status, made.text).toBe(200);
    return (made.body.tokens as string[])[0] as string;
  }

  /** An enrollment as an outsider sends it: any id, a key of their own (`key`, a fresh one unless given). */
  async enrollAs(token: string, deviceId: string, key = generateKeyPair()) {
    const response = await fetch(`${this.http}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token, deviceId, publicKey: toBase64Url(key.publicKey) }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** A device of `school` enrolled with `key` and connected to the broker with the credentials it got. */
  async deviceOnBroker(id: string, school = 'school-1', key = generateKeyPair()): Promise<MqttClient> {
    const enrolled = await this.enrollAs(await this.token(school), id, key);
    expect(enrolled.status).toBe(200);
    const { url, username, password } = enrolled.body.mqtt as {
      url: string;
      username: string;
      password: string;
    };
    return mqtt.connectAsync(url, { clientId: id, username, password, reconnectPeriod: 0 });
  }

  /** `educard init` for a gate of `school` on simulated readers whose taps come on stdin. */
  async provision(config: string, device: string, options: { force?: boolean; school?: string } = {}) {
    const init = await educard(config, [
      'init',
      '--no-input',
      ...(options.force ? ['--force'] : []),
      ...['--data-dir', join(this.dir, device, 'data'), '--school', options.school ?? 'school-1'],
      ...['--device', device, '--zone', 'main-gate', '--readers', 'simulated', '--io-plugin', 'recording'],
      ...['--bridge', this.http, '--root-keys', this.anchor, '--root-fingerprint', this.fingerprint],
    ]);
    expect(init.code, init.stderr).toBe(0);
    expect((await educard(config, ['config', 'set', 'readers.script', '"-"'])).code).toBe(0);
  }

  /** `educard enroll` with a token bound to the device. */
  async enroll(config: string, device: string, school = 'school-1') {
    const token = await this.token(school, device);
    const enrolled = await educard(config, ['enroll', '--bridge', this.http, '--token', token]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
  }

  /** The gateway service, as systemd starts it. */
  startService(config: string): Child {
    const service = startNode('gateway/dist/main.js', ['--config', config], {
      nodeFlags: ['--max-semi-space-size=2'],
    });
    this.services.push(service);
    return service;
  }

  async stopService(service: Child) {
    service.process.kill('SIGTERM');
    expect(await exited(service.process)).toBe(0);
    this.services.splice(this.services.indexOf(service), 1);
  }

  async stop() {
    for (const service of this.services.splice(0)) {
      service.process.kill('SIGTERM');
      await exited(service.process);
    }
    this.bridge.child.process.kill('SIGTERM');
    await exited(this.bridge.child.process);
  }
}

export function tap(service: Child, uid: string) {
  service.process.stdin?.write(`${JSON.stringify({ action: 'tap', reader: 'sim-in', card: { uid } })}\n`);
}

/** What `educard status` says of the gateway's journal and uplink. */
export const status = async (config: string) =>
  (await educard(config, ['status', '--json'])).json<{
    journal: { backlog: number };
    uplink: { refusedAcks: number; refusedCommands: number };
    roster: { version: number; cards: number } | null;
  }>();
