import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { until } from '@educard/scripts/support';
import {
  type EventRecord,
  GENESIS_HASH,
  generateKeyPair,
  MAX_MESSAGE_BYTES,
  signBatch,
  topics,
} from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admin, enrollDevice, startBridge } from '../support/bridge.js';

let dir: string;
let bridge: Bridge;
const clients: MqttClient[] = [];

function records(device: string, count: number, from = { seq: 0, hash: GENESIS_HASH }): EventRecord[] {
  const at = new Date().toISOString();
  return chainRecords(
    device,
    Array.from({ length: count }, () => ({
      type: 'gate.decision',
      at,
      data: gateDecisionData({ personId: 'p1' }),
    })),
    from,
  );
}

async function connect(username: string, password: string, clientId = username): Promise<MqttClient> {
  const client = await mqtt.connectAsync(bridge.mqttUrl, {
    clientId,
    username,
    password,
    reconnectPeriod: 0,
  });
  clients.push(client);
  return client;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'security-'));
  bridge = await startBridge(join(dir, 'bridge'));
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.endAsync(true);
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the embedded broker and ingest refuse what they must', () => {
  it('refuses a device with wrong credentials, or one that claims another client id', async () => {
    const good = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    await expect(connect('gate-01', 'not-the-password')).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );
    await expect(connect('gate-01', good.password, 'gate-02')).rejects.toThrow(
      /Bad username or password|Not authorized/i,
    );
    await expect(connect('gate-01', good.password)).resolves.toBeDefined();
  });

  it('applies the same authentication and ACL to the WebSocket listener that pages use', async () => {
    await bridge.stop();
    bridge = await startBridge(join(dir, 'bridge-ws'), { mqtt: { port: 0, wsPort: 0 } });
    const wsUrl = `ws://127.0.0.1:${bridge.broker?.wsPort}`;
    const a = await enrollDevice(bridge.httpUrl, join(dir, 'gate-a'), 'gate-a');
    const overWs = (password: string) =>
      mqtt.connectAsync(wsUrl, { clientId: 'gate-a', username: 'gate-a', password, reconnectPeriod: 0 });
    await expect(overWs('wrong')).rejects.toThrow(/Bad username or password|Not authorized/i);
    const client = await overWs(a.password);
    clients.push(client);
    expect(client.connected).toBe(true);
    const own = await client.subscribeAsync(topics.ack('school-1', 'gate-a'), { qos: 1 });
    expect(own[0]?.qos).toBe(1);
    const refused = await client.subscribeAsync(topics.ack('school-1', 'gate-b'), { qos: 1 }).then(
      () => undefined,
      (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
    );
    expect(refused).toEqual([128]);
  });

  it('refuses a token used twice, and a revoked device can no longer connect', async () => {
    const first = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    const again = await fetch(`${bridge.httpUrl}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: first.token, deviceId: 'gate-09', publicKey: first.identity.publicKey }),
    });
    expect(again.status).toBe(403);
    const client = await connect('gate-01', first.password);
    await admin(bridge.httpUrl, '/v1/devices/gate-01/revoke', {});
    await until(() => !client.connected);
    await expect(connect('gate-01', first.password)).rejects.toThrow();
  });

  it("refuses a device's publish and subscription outside its own topics", async () => {
    const a = await enrollDevice(bridge.httpUrl, join(dir, 'gate-a'), 'gate-a');
    await enrollDevice(bridge.httpUrl, join(dir, 'gate-b'), 'gate-b');
    const client = await connect('gate-a', a.password);
    // mqtt.js reports a SUBACK with a failure code as an error carrying the packet.
    const refused = await client
      .subscribeAsync([topics.ack('school-1', 'gate-b'), topics.ack('school-1', 'gate-a')], { qos: 1 })
      .then(
        () => undefined,
        (error: { packet?: { granted?: number[] }; message: string }) =>
          error.packet?.granted ?? error.message,
      );
    expect(refused).toEqual([128, 1]);
    // A publish outside the ACL makes aedes drop the connection.
    const batch = signBatch('gate-b', 'school-1', records('gate-b', 1), a.identity.key);
    client.publish(topics.events('school-1', 'gate-b'), JSON.stringify(batch), { qos: 1 });
    await until(() => !client.connected);
    expect(bridge.store.countEvents()).toBe(0);
  });

  it('rejects forged, altered and replayed batches, and survives garbage', async () => {
    const device = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    const client = await connect('gate-01', device.password);
    const topic = topics.events('school-1', 'gate-01');
    const run = records('gate-01', 3);
    // Signed by a key that is not the enrolled one.
    client.publish(topic, JSON.stringify(signBatch('gate-01', 'school-1', run, generateKeyPair())), {
      qos: 1,
    });
    // Signed by the device, then altered in transit.
    const altered = JSON.parse(JSON.stringify(signBatch('gate-01', 'school-1', run, device.identity.key)));
    (altered.records[1] as { data: Record<string, unknown> }).data.personId = 'p-intruder';
    client.publish(topic, JSON.stringify(altered), { qos: 1 });
    // Malformed, oversized, another contract version.
    client.publish(topic, '{"not":"json"', { qos: 1 });
    client.publish(topic, Buffer.alloc(MAX_MESSAGE_BYTES + 10, 0x20), { qos: 1 });
    client.publish(
      topic,
      JSON.stringify({ ...signBatch('gate-01', 'school-1', run, device.identity.key), v: 9 }),
      { qos: 1 },
    );
    await until(() => bridge.ingest.stats.rejected >= 5).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(bridge.ingest.stats)} connected=${client.connected}`);
    });
    expect(bridge.store.countEvents()).toBe(0);
    // The genuine batch, then the same batch replayed: stored once.
    const genuine = JSON.stringify(signBatch('gate-01', 'school-1', run, device.identity.key));
    client.publish(topic, genuine, { qos: 1 });
    client.publish(topic, genuine, { qos: 1 });
    await until(() => bridge.ingest.stats.duplicates >= 1);
    expect(bridge.store.countEvents()).toBe(3);
    // A re-signed batch that rewrites history (a different record 2 chained from the real record 1).
    const rewritten = records('gate-01', 2, { seq: 1, hash: run[0]?.hash as string });
    client.publish(
      topic,
      JSON.stringify(
        signBatch('gate-01', 'school-1', [run[0] as EventRecord, ...rewritten], device.identity.key),
      ),
      {
        qos: 1,
      },
    );
    await until(() => bridge.ingest.stats.batches >= 8);
    expect(bridge.store.queryEvents({ limit: 10 }).map((e) => e.record.hash)).toEqual(run.map((r) => r.hash));
    const health = (await (await fetch(`${bridge.httpUrl}/health`)).json()) as { ok: boolean };
    expect(health.ok).toBe(true);
  });

  it('asks a device to resend when a batch leaves a gap', async () => {
    const device = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    const client = await connect('gate-01', device.password);
    const commands: string[] = [];
    client.on('message', (_topic, payload) => commands.push(payload.toString()));
    await client.subscribeAsync(topics.commands('school-1', 'gate-01'), { qos: 1 });
    const run = records('gate-01', 6);
    client.publish(
      topics.events('school-1', 'gate-01'),
      JSON.stringify(signBatch('gate-01', 'school-1', run.slice(3), device.identity.key)),
      {
        qos: 1,
      },
    );
    await until(() => commands.length > 0);
    expect(JSON.parse(commands[0] as string)).toMatchObject({ name: 'events.resend', args: { fromSeq: 1 } });
    expect(bridge.store.countEvents()).toBe(0);
  });
});
