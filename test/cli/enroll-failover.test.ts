import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import type { Bridge } from '@educard/cloud-bridge';
import { type KeyRole, rootFingerprint } from '@educard/terminal-sdk';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { admin, startBridge } from '../support/bridge.js';
import { educard, gateInitFlags } from '../support/cli.js';

// A district's gateways learn the broker cluster's other nodes and the QoS to publish batches with at
// enrollment, signed in the proof with the first node, so no technician types them into thousands of
// devices: `educard enroll` against a real bridge writes them as `uplink.failover` and `uplink.batch.qos`.

const NODES = ['mqtt://broker-2.example:1883', 'mqtt://broker-3.example:1883'];
let dir: string;
let bridge: Bridge;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enroll-failover-'));
  bridge = await startBridge(join(dir, 'bridge'), {
    mqtt: { port: 0, publicFailover: NODES, deviceBatchQos: 0 },
  });
});
afterEach(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

/** `educard init` of gate-east for school-1, pinned to the bridge's root keys; its config file. */
async function initDevice(): Promise<string> {
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await writeFile(join(dir, 'anchor.json'), JSON.stringify(anchor));
  const config = join(dir, 'device', 'gateway.json');
  const init = await educard(config, [
    ...gateInitFlags(join(dir, 'device', 'data'), join(dir, 'anchor.json'), rootFingerprint(anchor)),
    '--bridge',
    bridge.httpUrl,
  ]);
  expect(init.code, init.stderr).toBe(0);
  return config;
}

/** A one-time enrollment token of school-1. */
async function token(): Promise<string> {
  const { tokens } = (await admin(bridge.httpUrl, '/v1/tokens', { school: 'school-1', count: 1 })) as {
    tokens: string[];
  };
  return tokens[0] as string;
}

it('writes the nodes and the batch QoS the bridge names, after checking them against the signed proof', async () => {
  const config = await initDevice();
  const enrolled = await educard(config, [
    'enroll',
    '--token',
    await token(),
    '--bridge',
    bridge.httpUrl,
    '--json',
  ]);
  expect(enrolled.code, enrolled.stderr).toBe(0);
  expect(enrolled.json()).toMatchObject({ broker: bridge.mqttUrl, failover: NODES, batchQos: 0 });
  const written = JSON.parse(await readFile(config, 'utf8')) as {
    uplink: { url: string; failover: string[]; batch: { qos: number } };
  };
  expect(written.uplink).toMatchObject({ url: bridge.mqttUrl, failover: NODES, batch: { qos: 0 } });
});

type Answer = { mqtt?: { failover?: string[]; batchQos?: number } };
it.each([
  // A node of the attacker's added.
  [
    'broker nodes',
    (mqtt: NonNullable<Answer['mqtt']>) => {
      mqtt.failover = [...(mqtt.failover ?? []), 'mqtt://attacker.example:1883'];
    },
  ],
  // Batches moved to QoS 1: on NATS a replicated write per tap, the cluster's capacity taken.
  [
    'batch QoS',
    (mqtt: NonNullable<Answer['mqtt']>) => {
      mqtt.batchQos = 1;
    },
  ],
] as const)('refuses an answer that alters the %s of its proof, and writes nothing', async (what, alter) => {
  const config = await initDevice();
  const before = await readFile(config, 'utf8');
  // In the middle: the bridge's answer passed on altered.
  const middle = createServer(async (request, response) => {
    const body = await buffer(request);
    const answer = await fetch(`${bridge.httpUrl}${request.url}`, {
      method: request.method,
      headers: { 'content-type': 'application/json' },
      ...(request.method === 'POST' ? { body } : {}),
    });
    const json = (await answer.json()) as Answer;
    if (json.mqtt) alter(json.mqtt);
    response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
  });
  await new Promise<void>((resolve) => middle.listen(0, '127.0.0.1', resolve));
  try {
    const port = (middle.address() as AddressInfo).port;
    const enrolled = await educard(config, [
      'enroll',
      '--token',
      await token(),
      '--bridge',
      `http://127.0.0.1:${port}`,
    ]);
    expect(enrolled.code).toBe(1);
    expect(enrolled.stderr).toContain(`the proof does not match this enrollment (${what})`);
    expect(await readFile(config, 'utf8')).toBe(before);
  } finally {
    middle.close();
  }
});
