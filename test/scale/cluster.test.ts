import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  Gateway,
  loadOrCreateIdentity,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { type District, Fleet, startDistrict } from '@educard/scripts/fleet-sim';
import { until } from '@educard/scripts/support';
import {
  generateKeyPair,
  type KeyRole,
  SPEC_VERSION,
  signBatch,
  toBase64Url,
  topics,
} from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData, sampleCard } from '@educard/terminal-sdk/testing';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROSTER_CSV_HEADER, rosterCsvRow } from '../support/roster-csv.js';

let dir: string;
let district: District;
let fleet: Fleet | undefined;

async function call(path: string, body?: unknown, type = 'application/json') {
  const response = await fetch(`${district.bridge.http}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      authorization: `Bearer ${district.adminToken}`,
      ...(body === undefined ? {} : { 'content-type': type }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Enrolls a device id with a fresh token and a new key: its broker credentials. */
async function enroll(deviceId: string, school = 'school-1') {
  const key = generateKeyPair();
  const { body } = await call('/v1/tokens', { school, count: 1 });
  const answer = await fetch(`${district.bridge.http}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token: (body.tokens as string[])[0],
      deviceId,
      publicKey: toBase64Url(key.publicKey),
    }),
  });
  expect(answer.status).toBe(200);
  const { mqtt: credentials } = (await answer.json()) as { mqtt: { username: string; password: string } };
  return { ...credentials, key };
}

const credentialsOf = ({ username, password }: { username: string; password: string }) => ({
  username,
  password,
});

const connect = (url: string, clientId: string, credentials: { username: string; password: string }) =>
  mqtt.connectAsync(url, {
    clientId,
    ...credentials,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'scale-cluster-'));
  district = await startDistrict(dir);
}, 180_000);

afterAll(async () => {
  await fleet?.stop();
  await district?.stop();
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('three NATS nodes, one bridge provisioning device accounts into them', () => {
  it('spreads devices over the nodes; each one is answered and acknowledged across nodes, and kept to its own topics', async () => {
    fleet = await Fleet.enroll({
      bridgeHttp: district.bridge.http,
      adminToken: district.adminToken,
      brokerUrls: district.brokerUrls,
      devices: 6,
      schools: 2,
    });
    await fleet.connect();
    for (const device of fleet.devices) for (let i = 0; i < 3; i++) device.tap();
    await fleet.drained(30_000);
    const stats = fleet.stats();
    expect(stats).toMatchObject({ connected: 6, tapped: 18, acked: 18, refusals: 0 });
    // Every birth was answered on the device's own topic, wherever the device and the bridge were.
    await until(() => fleet?.stats().syncAnswers === 6);

    const health = async () =>
      ((await call('/health')).body.ingest as { batches: number; rejected: number }).batches;
    const before = await health();
    // The NATS MQTT listener cannot carry a "." in a topic: such an id is refused at enrollment.
    const { body: made } = await call('/v1/tokens', { school: 'school-1', count: 1 });
    const dotted = await fetch(`${district.bridge.http}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: (made.tokens as string[])[0],
        deviceId: 'lab.gate-1',
        publicKey: toBase64Url(generateKeyPair().publicKey),
      }),
    });
    expect(dotted.status).toBe(403);
    expect(((await dotted.json()) as { message: string }).message).toMatch(/NATS MQTT listener cannot carry/);
    const attacker = await enroll('lab-gate-1');
    const spy = await connect(district.brokerUrls[2] as string, 'lab-gate-1', credentialsOf(attacker));
    try {
      const own = await spy.subscribeAsync(topics.ack('school-1', 'lab-gate-1'), { qos: 1 });
      expect(own.map((g) => g.qos)).toEqual([1]);
      for (const filter of [
        topics.ack('school-1', 'sim-1'),
        'educard/v1/#',
        topics.sync('school-2', 'sim-2'),
      ]) {
        await expect(spy.subscribeAsync(filter, { qos: 1 }), filter).rejects.toThrow(/Subscribe error/);
      }
      await spy.publishAsync(topics.events('school-1', 'sim-1'), '{"forged":true}', { qos: 1 });
      await spy.publishAsync(topics.state('school-1', 'lab-gate-1'), 'not json', { qos: 1 });
      // The state in its own topic reaches the bridge (and is refused there); the forged batch never does.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await health()).toBe(before);
    } finally {
      await spy.endAsync();
    }
  }, 120_000);

  it('cuts off a device revoked while connected to node 2 within seconds, and refuses it on nodes 1, 2 and 3', async () => {
    const credentials = await enroll('gate-revoked');
    const [node1, node2, node3] = district.brokerUrls as [string, string, string];
    const client = await connect(node2, 'gate-revoked', credentialsOf(credentials));
    let closedAt: number | undefined;
    client.on('close', () => {
      closedAt ??= Date.now();
    });
    const started = Date.now();
    const revoked = await call('/v1/devices/gate-revoked/revoke', {});
    expect(revoked).toMatchObject({ status: 200, body: { revoked: true } });
    await until(() => closedAt !== undefined, { timeoutMs: 5000, what: 'the revoked device cut off' });
    expect((closedAt as number) - started).toBeLessThan(5000);
    for (const url of [node1, node2, node3]) {
      await expect(connect(url, 'gate-revoked', credentialsOf(credentials)), url).rejects.toThrow(
        /Not authorized/,
      );
    }
    // The other devices are still connected and still heard.
    const other = fleet?.devices[1];
    other?.tap();
    await fleet?.drained(20_000);
    expect(fleet?.stats().connected).toBe(6);
  }, 60_000);

  it('a gateway joining after the roster was published takes it and its ack by asking in its birth, with no retained message to find', async () => {
    const csv = [ROSTER_CSV_HEADER, rosterCsvRow(1), rosterCsvRow(2)].join('\n');
    expect(await call('/v1/roster/school-1/import', csv, 'text/csv')).toMatchObject({
      status: 200,
      body: { version: 1 },
    });
    // Whatever the cluster retained for the school is gone: only an answer to the birth can help.
    const bridgeClient = await connect(district.brokerUrls[0] as string, 'cleaner', district.bridgeUser);
    for (const topic of [
      topics.rosterKeySets('school-1'),
      topics.rosterSnapshot('school-1'),
      topics.rosterDelta('school-1'),
    ])
      await bridgeClient.publishAsync(topic, '', { qos: 1, retain: true });
    await bridgeClient.endAsync();

    const dataDir = join(dir, 'gate-late');
    await mkdir(join(dataDir, 'roster'), { recursive: true });
    const anchor = (await (await fetch(`${district.bridge.http}/v1/roster/anchor`)).json()) as KeyRole;
    await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
    const identity = await loadOrCreateIdentity(join(dataDir, 'device-key.json'));
    const { body } = await call('/v1/tokens', { school: 'school-1', count: 1 });
    const enrolled = await fetch(`${district.bridge.http}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        token: (body.tokens as string[])[0],
        deviceId: 'gate-late',
        publicKey: identity.publicKey,
      }),
    });
    const { mqtt: credentials } = (await enrolled.json()) as { mqtt: { username: string; password: string } };
    const start = () =>
      Gateway.start({
        config: parseConfig({
          device: { id: 'gate-late', school: 'school-1' },
          dataDir,
          station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
          readers: { simulated: ['sim-in'] },
          uplink: { bridgeHttp: district.bridge.http, ...credentials, url: district.brokerUrls[2] },
        }),
        logger: createLogger('gate-late', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
      });
    const gateway = await start();
    try {
      await until(() => gateway.roster.view?.version === 1, { timeoutMs: 20_000 });
      (gateway.readers as SimulatedReaderDriver).present('sim-in', {
        uid: sampleCard(1).credential.uid as string,
      });
      // The tap and the roster's own journal records, every one acknowledged across the nodes.
      const journal = gateway.journal;
      await until(() => journal.stats().lastSeq > 0 && journal.stats().ackedSeq === journal.stats().lastSeq, {
        timeoutMs: 20_000,
      });
      const stored = (await call('/v1/events?device=gate-late')).body.events as {
        record: { type: string };
      }[];
      expect(stored.map((e) => e.record.type)).toContain('gate.decision');
    } finally {
      await gateway.stop();
    }
  }, 120_000);

  it('answers a birth with the last ack, which the cluster no longer retains', async () => {
    const device = await enroll('gate-asks');
    const url = district.brokerUrls[1] as string;
    const sender = await connect(url, 'gate-asks', credentialsOf(device));
    const records = chainRecords(
      'gate-asks',
      [1, 2, 3].map((n) => ({
        type: 'gate.decision',
        at: new Date().toISOString(),
        data: gateDecisionData({ personId: `p${n}` }),
      })),
    );
    await sender.publishAsync(
      topics.events('school-1', 'gate-asks'),
      JSON.stringify(signBatch('gate-asks', 'school-1', records, device.key)),
      { qos: 1 },
    );
    // Gone before the ack could reach it: the ack went to nobody and was not retained.
    await sender.endAsync();
    await until(
      async () => ((await call('/v1/events?device=gate-asks')).body.events as unknown[]).length === 3,
    );

    const back = await connect(district.brokerUrls[2] as string, 'gate-asks', credentialsOf(device));
    try {
      const heard: { topic: string; payload: string }[] = [];
      back.on('message', (topic, payload) => heard.push({ topic, payload: payload.toString() }));
      await back.subscribeAsync([topics.ack('school-1', 'gate-asks'), topics.sync('school-1', 'gate-asks')], {
        qos: 1,
      });
      const birth = {
        v: SPEC_VERSION,
        device: 'gate-asks',
        school: 'school-1',
        online: true,
        bdSeq: 2,
        want: ['ack', 'a-wish-of-a-newer-version'],
      };
      await back.publishAsync(topics.state('school-1', 'gate-asks'), JSON.stringify(birth), {
        qos: 1,
        retain: true,
      });
      const answer = await until(() => heard.find((m) => m.topic === topics.sync('school-1', 'gate-asks')));
      expect(JSON.parse(answer.payload)).toMatchObject({
        device: 'gate-asks',
        bdSeq: 2,
        ack: { seq: 3, hash: records[2]?.hash },
      });
      expect(heard.filter((m) => m.topic === topics.ack('school-1', 'gate-asks'))).toEqual([]);
    } finally {
      await back.endAsync();
    }
  }, 120_000);
});
