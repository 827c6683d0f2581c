import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BareBroker, startBareBroker } from '@educard/scripts/support';
import { HotlistTable, topics, type VenuePlan } from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { BodyGrants } from '../grants/index.js';
import { RosterKeyring } from '../roster/index.js';
import { commitSignedRoster } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { HotlistService } from './hotlist.js';
import { VenuePlans } from './plans.js';
import { migrateVenues } from './tables.js';

// Two bridge instances on one store (two connections to it, as two processes have), each with its
// own hotlist and plans: what one publishes, the other builds on.

let dir: string;
let broker: BareBroker;
const stores: BridgeStore[] = [];
const clients: MqttClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hotlist-'));
  broker = await startBareBroker();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  for (const store of stores.splice(0)) store.close();
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

async function instance(keys: RosterKeyring) {
  const store = openTestStore(join(dir, 'bridge.db'));
  stores.push(store);
  migrateVenues(store.database);
  const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  clients.push(client);
  const deps = { store, client, keys, logger: pino({ level: 'silent' }) };
  const hotlist = new HotlistService({ ...deps, grants: new BodyGrants(store.database) });
  await hotlist.start();
  return { store, hotlist, plans: new VenuePlans(deps) };
}

/** What the latest published snapshot says of each card. */
function published(service: HotlistService, cards: string[]): Record<string, string | undefined> {
  const version = service.status().version;
  const table = HotlistTable.fromSnapshot(service.snapshot(version) as Uint8Array);
  return Object.fromEntries(cards.map((card) => [card, table.lookup(card)]));
}

it('each instance publishes its changes on top of the latest version, whoever published it', async () => {
  const keys = await RosterKeyring.open(dir);
  const first = (await instance(keys)).hotlist;
  const second = (await instance(keys)).hotlist;
  expect([first.status().version, second.status().version]).toEqual([1, 1]);

  expect(await first.applyCentral([{ cardId: 'E000000001', status: 'lost' }])).toBe(2);
  // The second instance's list in force was version 1: it builds on version 2, not beside it.
  expect(await second.applyCentral([{ cardId: 'E000000002', status: 'suspended' }])).toBe(3);
  expect(await first.applyCentral([{ cardId: 'E000000001', status: 'active' }])).toBe(4);
  expect(await second.applyCentral([{ cardId: 'E000000003', status: 'cancelled' }])).toBe(5);

  const cards = ['E000000001', 'E000000002', 'E000000003'];
  const expected = { E000000001: undefined, E000000002: 'suspended', E000000003: 'cancelled' };
  expect(published(first, cards)).toEqual(expected);
  expect(published(second, cards)).toEqual(expected);
  expect(first.status()).toMatchObject({ version: 5, entries: 2 });
  expect(second.status()).toMatchObject({ version: 5, entries: 2 });
});

it('a venue’s plan holds the visits booked through either instance', async () => {
  const keys = await RosterKeyring.open(dir);
  const first = await instance(keys);
  const second = await instance(keys);
  const cards = [
    sampleCard(1, { class: '3-1' }),
    sampleCard(2, { class: '3-2' }),
    sampleCard(3, { class: '3-1', role: 'teacher' }),
    sampleCard(4, { class: '3-2', role: 'teacher' }),
  ];
  commitSignedRoster(first.store, 'school-1', cards, new Date().toISOString());
  const date = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const visit = (className: string) => ({
    school: 'school-1',
    class: className,
    date,
    from: '09:00',
    until: '11:00',
  });
  expect((await first.plans.book('museum-1', visit('3-1'), 'admin')).version).toBe(1);
  expect((await second.plans.book('museum-1', visit('3-2'), 'admin')).version).toBe(2);

  // The plan retained on the broker, as a venue takes it: both classes.
  const venue = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  clients.push(venue);
  const retained = new Promise<{ body: string }>((resolve) =>
    venue.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()))),
  );
  await venue.subscribeAsync(topics.venuePlan('museum-1'), { qos: 0 });
  const plan = JSON.parse((await retained).body) as VenuePlan;
  // In the plan's order (date, start, booking id): either way round here.
  const visits = plan.visits
    .map((v) => [v.class, v.pupils])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  expect([plan.version, visits]).toEqual([
    2,
    [
      ['3-1', ['E000000001']],
      ['3-2', ['E000000002']],
    ],
  ]);
});
