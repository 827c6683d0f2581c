import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BareBroker, startBareBroker } from '@educard/scripts/support';
import {
  type EventAck,
  ed25519,
  generateKeyPair,
  signBatch,
  toBase64Url,
  topics,
} from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { CommandSender } from '../commands/index.js';
import { RosterKeyring } from '../roster/index.js';
import { type BridgeStore, openSqliteStore } from '../store/index.js';
import { Ingest } from './index.js';

const SCHOOL = 'school-1';
let dir: string;
let broker: BareBroker;
let store: BridgeStore;
const clients: MqttClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ingest-'));
  broker = await startBareBroker();
  store = openSqliteStore(join(dir, 'bridge.db'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  store.close();
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

async function connect(clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(broker.url, { clientId, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

/** A device enrolled in the store, with signed batches of its first records to send. */
function enrolled(id: string, count: number) {
  const key = generateKeyPair();
  const now = Date.now();
  const at = new Date(now).toISOString();
  const [token] = store.createTokens(SCHOOL, 1, new Date(now + 3_600_000).toISOString(), id);
  store.enrollDevice(
    token as string,
    { id, publicKey: toBase64Url(key.publicKey), secretHash: 'not used here' },
    at,
  );
  const records = chainRecords(
    id,
    Array.from({ length: count }, () => ({
      type: 'gate.decision',
      at,
      data: gateDecisionData({ personId: 'p1' }),
    })),
  );
  const batch = (from: number, to: number) =>
    JSON.stringify(signBatch(id, SCHOOL, records.slice(from - 1, to), key));
  return { key, batch };
}

it('lets a batch pass when its device’s partition moves to another instance while the signature is checked', async () => {
  const moving = enrolled('gate-01', 3);
  const staying = enrolled('gate-02', 3);
  const held = new Set(['gate-01', 'gate-02']);
  const bridge = await connect('bridge');
  const logger = pino({ level: 'silent' });
  const keys = await RosterKeyring.open(dir);
  const ingest = new Ingest({
    store,
    client: bridge,
    logger,
    commands: new CommandSender({ client: bridge, keys, logger }),
    owns: (device) => held.has(device),
  });
  await ingest.start();
  // The check runs in the thread pool, off the event loop: the lease of gate-01's partition is lost
  // while it runs (here at the moment it starts), and another instance now commits gate-01.
  const verify = ed25519.verifyInPool.bind(ed25519);
  let movedDuringCheck: Promise<boolean> | undefined;
  vi.spyOn(ed25519, 'verifyInPool').mockImplementation((message, signature, publicKey) => {
    const checking = verify(message, signature, publicKey);
    if (Buffer.from(publicKey).equals(Buffer.from(moving.key.publicKey))) {
      held.delete('gate-01');
      movedDuringCheck = checking;
    }
    return checking;
  });
  const acks: EventAck[] = [];
  const devices = await connect('devices');
  devices.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()) as EventAck));
  await devices.subscribeAsync([topics.ack(SCHOOL, 'gate-01'), topics.ack(SCHOOL, 'gate-02')], { qos: 1 });
  await devices.publishAsync(topics.events(SCHOOL, 'gate-01'), moving.batch(1, 3), { qos: 1 });
  await devices.publishAsync(topics.events(SCHOOL, 'gate-02'), staying.batch(1, 2), { qos: 1 });
  await expect.poll(() => movedDuringCheck, { timeout: 10_000 }).toBeDefined();
  // gate-01's check came out true; a batch of gate-02 sent after that went through the broker and
  // the store: a commit of gate-01, had its batch gone on, would have been acknowledged by then.
  await expect(movedDuringCheck).resolves.toBe(true);
  await devices.publishAsync(topics.events(SCHOOL, 'gate-02'), staying.batch(3, 3), { qos: 1 });
  await expect
    .poll(() => acks.filter((ack) => ack.device === 'gate-02').at(-1)?.seq, { timeout: 10_000 })
    .toBe(3);
  expect(acks.filter((ack) => ack.device === 'gate-01')).toEqual([]);
  expect(store.cursor('gate-01').seq).toBe(0);
  expect(store.cursor('gate-02').seq).toBe(3);
  expect(ingest.stats).toMatchObject({ stored: 3, rejected: 0 });
  expect(vi.mocked(ed25519.verifyInPool)).toHaveBeenCalledTimes(3);
});
