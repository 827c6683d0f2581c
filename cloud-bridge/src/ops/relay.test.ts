import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BareBroker, startBareBroker, until } from '@educard/scripts/support';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Directory } from '../directory/index.js';
import { type SubscriptionWatch, watchSubscriptions } from '../runtime/subscriptions.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { LiveRelay } from './relay.js';
import { Operations } from './service.js';

/** One bridge instance's part of the live stream: its own connection to the store and to the broker. */
interface Instance {
  store: BridgeStore;
  ops: Operations;
  client: MqttClient;
  relay: LiveRelay;
  http: Server;
}

let dir: string;
let broker: BareBroker;
let observer: MqttClient;
/** The ids each message on the live topic carried, in the order the broker delivered them. */
let sent: number[][];
const instances: Instance[] = [];
const logger = pino({ level: 'silent' });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'live-relay-'));
  broker = await startBareBroker();
  sent = [];
  observer = await mqtt.connectAsync(broker.url, { clientId: 'observer' });
  observer.on('message', (_topic, payload) =>
    sent.push((JSON.parse(payload.toString()) as { ids: number[] }).ids),
  );
  await observer.subscribeAsync('educard-bridge/v1/live', { qos: 0 });
});
afterEach(async () => {
  for (const instance of instances.splice(0)) {
    instance.http.closeAllConnections();
    await new Promise((resolve) => instance.http.close(resolve));
    instance.ops.stop();
    await instance.client.endAsync();
    instance.store.close();
  }
  await observer.endAsync();
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

async function startInstance(
  id: string,
  options: { logger?: pino.Logger; onConnected?: (client: MqttClient) => void } = {},
): Promise<Instance> {
  const store = openTestStore(join(dir, 'bridge.db'));
  const ops = new Operations({
    store,
    directory: new Directory(store.database),
    logger,
    settings: { offlineAfterMinutes: 10, rosterStaleAfterMinutes: 30 },
  });
  const client = await mqtt.connectAsync(broker.url, { clientId: id });
  options.onConnected?.(client);
  const relay = await LiveRelay.start({ client, ops, instance: id, logger: options.logger ?? logger });
  // The operations route's part that matters here: a response handed to the hub.
  const http = createServer((_request, response) => ops.hub.add(response, undefined, 'op-1'));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const instance = { store, ops, client, relay, http };
  instances.push(instance);
  return instance;
}

/** A stream opened on an instance: the ids of the events it shows, as they come. */
async function openStream(instance: Instance): Promise<{ ids: number[]; close(): void }> {
  const ids: number[] = [];
  const response = await new Promise<IncomingMessage>((resolve, reject) =>
    get(`http://127.0.0.1:${(instance.http.address() as AddressInfo).port}/`, resolve).on('error', reject),
  );
  response.setEncoding('utf8');
  response.on('data', (text: string) => {
    for (const match of text.matchAll(/^id: (\d+)$/gm)) ids.push(Number(match[1]));
  });
  return { ids, close: () => response.destroy() };
}

/** Commits one tap through an instance's store, as its ingest would; returns the event's id. */
function commitTap(instance: Instance): number {
  const device = 'gate-01';
  const records = chainRecords(
    device,
    [{ type: 'gate.decision', at: new Date().toISOString(), data: gateDecisionData({ personId: 'p1' }) }],
    instance.store.cursor(device),
  );
  instance.store.commitRecords(device, 'school-1', records);
  return instance.store.queryEvents({ device, limit: 100 }).at(-1)?.id as number;
}

it('sends the ids an instance commits only while another instance streams, and that one shows them', async () => {
  const a = await startInstance('bridge-a');
  const b = await startInstance('bridge-b');
  const first = commitTap(a);

  // A page opens a stream on B: A hears B is watching, and what A commits from then on shows there.
  const stream = await openStream(b);
  await until(() => a.relay.watched(), { what: 'A hears B watching' });
  const second = commitTap(a);
  await until(() => stream.ids.includes(second), { what: 'A’s commit on B’s stream' });
  // Messages from one publisher arrive in order: had A sent the first commit, it would be here first.
  await until(() => sent.flat().includes(second), { what: 'the second commit’s ids sent' });
  expect(first).toBeLessThan(second);
  expect(sent).toEqual([[second]]);
  expect(stream.ids).toEqual([second]);

  // The page closes: A stops sending, and starts again when a stream opens on B once more.
  stream.close();
  await until(() => !a.relay.watched(), { what: 'A hears B stop watching' });
  commitTap(a);
  const again = await openStream(b);
  await until(() => a.relay.watched(), { what: 'A hears B watching again' });
  const fourth = commitTap(a);
  await until(() => again.ids.includes(fourth), { what: 'the fourth commit on B’s stream' });
  await until(() => sent.flat().includes(fourth), { what: 'the fourth commit’s ids sent' });
  expect(sent).toEqual([[second], [fourth]]);
  again.close();
});

it('turns itself off, and the bridge stays connected, when the broker refuses the live stream’s topics', async () => {
  // A third-party broker whose ACL gives the bridge instances the device protocol only.
  broker.aedes.authorizeSubscribe = (client, subscription, done) =>
    done(
      null,
      client?.id.startsWith('bridge-') && subscription.topic.startsWith('educard-bridge/')
        ? null
        : subscription,
    );
  const lines: { msg: string }[] = [];
  const warnings = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  // The bridge's own watch of its subscriptions, on the same client and from before the relay, as
  // the bridge starts them: it reconnects 5 s after a refusal of a filter of the device protocol.
  let watch: SubscriptionWatch | undefined;
  let closed = 0;
  const a = await startInstance('bridge-a', {
    logger: warnings,
    onConnected: (client) => {
      watch = watchSubscriptions(client, { withinMs: 20_000, logger: warnings });
      client.on('close', () => {
        closed += 1;
      });
    },
  });
  try {
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^the broker refused the live stream between bridge instances/),
    ]);
    const b = await startInstance('bridge-b', { logger: warnings });
    const stream = await openStream(b);
    const id = commitTap(a);
    // A's own stream still shows what A ingests; nothing goes to the broker.
    const own = await openStream(a);
    const later = commitTap(a);
    await until(() => own.ids.includes(later), { what: 'A’s commit on its own stream' });
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    expect(closed).toBe(0);
    expect(a.client.connected).toBe(true);
    expect(sent).toEqual([]);
    expect(stream.ids).not.toContain(id);
    stream.close();
    own.close();
  } finally {
    watch?.stop();
  }
}, 20_000);
