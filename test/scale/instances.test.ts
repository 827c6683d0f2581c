import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BridgeStore, DevicePartitions, openPostgresStore } from '@educard/cloud-bridge';
import { type District, Fleet, startDistrict } from '@educard/scripts/fleet-sim';
import { type Postgres, startPostgres } from '@educard/scripts/support';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CentralTestServer, centralConfig } from '../support/central-server.js';
import { readEvents } from '../support/event-stream.js';

const DEVICES = 200;
/** Taps a second per device: 40 events a second in all, what this shared machine carries beside the rest. */
const RATE = 0.2;

let dir: string;
let postgres: Postgres;
let central: CentralTestServer;
let district: District | undefined;
let fleet: Fleet | undefined;
let store: BridgeStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'instances-'));
  postgres = await startPostgres();
  central = await CentralTestServer.start();
  const url = postgres.createSchema('district');
  district = await startDistrict(dir, {
    instances: 2,
    store: { url },
    config: { central: centralConfig(central, { push: { intervalMs: 200 } }) },
    // Their warnings and errors, for the failure's message: the processes' logs go with their directory.
    keep: (line) => /"level":(40|50|60)/.test(line),
  });
  // The test's own view of the shared database, to see who holds what and what was stored.
  store = openPostgresStore(url);
  // Six processes start one after another (PostgreSQL, three NATS nodes, two bridges): minutes on a loaded host.
}, 300_000);

afterAll(async () => {
  await fleet?.stop();
  await district?.stop();
  store?.close();
  await central?.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The bridge's default partitions: which instance takes a device. */
const partitions = new DevicePartitions(16);

/** The pid in the holder name of a lease (`host-pid-random`), or undefined when no one holds it. */
function holderPid(name: string): number | undefined {
  const row = store.database
    .prepare<[string], { holder: string }>(
      `SELECT holder FROM leases WHERE name = ? AND expires_at >= (extract(epoch from clock_timestamp()) * 1000)::bigint`,
    )
    .get(name);
  return row ? Number(row.holder.split('-').at(-2)) : undefined;
}

/** The ingest partitions each running instance holds, by pid. */
function partitionsHeld(): Map<number, number[]> {
  const rows = store.database
    .prepare<[], { name: string; holder: string }>(
      `SELECT name, holder FROM leases WHERE name LIKE 'ingest/%' AND expires_at >= (extract(epoch from clock_timestamp()) * 1000)::bigint`,
    )
    .all();
  const held = new Map<number, number[]>();
  for (const { name, holder } of rows) {
    const pid = Number(holder.split('-').at(-2));
    held.set(pid, [...(held.get(pid) ?? []), Number(name.split('/')[1])]);
  }
  return held;
}

/**
 * The devices not all acknowledged, for a failure's message: whether the store has what they sent
 * (then the acks did not reach them) or not (then no instance heard them), who holds their partition
 * and which node they are on.
 */
function behind(fleet: Fleet): string[] {
  const stored = new Map(
    store.database
      .prepare<[], { device: string; last: number }>(
        'SELECT device, max(seq) AS last FROM events GROUP BY device',
      )
      .all()
      .map((row) => [row.device, Number(row.last)]),
  );
  const held = partitionsHeld();
  return fleet.devices
    .filter((device) => device.lastAcked !== device.counters.tapped)
    .slice(0, 20)
    .map((device) => {
      const partition = partitions.of(device.id);
      const holder = [...held].find(([, owned]) => owned.includes(partition))?.[0];
      return (
        `${device.id}: tapped ${device.counters.tapped}, acked ${device.lastAcked}, stored ${stored.get(device.id) ?? 0}; ` +
        `partition ${partition} held by ${holder ?? 'nobody'}; ${device.isConnected ? 'on' : 'off'} ${device.node}`
      );
    });
}

const partitionHolders = () => new Map([...partitionsHeld()].map(([pid, held]) => [pid, held.length]));

it('two instances, three nodes, 200 gateways: kill -9 an instance, then a node, restart both: every event stored once, in order, delivered once', async () => {
  const live = district as District;
  const pids = () => live.bridges.map((bridge) => bridge.child.pid as number);
  // Both instances take a share of the devices.
  await expect.poll(() => [...partitionHolders().keys()].sort(), { timeout: 30_000 }).toEqual(pids().sort());

  fleet = await Fleet.enroll({
    bridgeHttp: live.bridges[1]?.http as string,
    adminToken: live.adminToken,
    brokerUrls: live.brokerUrls,
    devices: DEVICES,
    concurrency: 25,
    ackTimeoutMs: 10_000,
  });
  await fleet.connect();
  fleet.startTapping(RATE);
  const devices = fleet;
  await expect.poll(() => devices.stats().acked, { timeout: 60_000 }).toBeGreaterThan(DEVICES);

  // A page on either instance streams what both ingest: the first's stream shows devices the second takes.
  const second = live.bridges[1]?.child.pid as number;
  const takenBySecond = new Set(partitionsHeld().get(second));
  const stream = await fetch(`${live.bridges[0]?.http}/v1/ops/stream`, {
    headers: { authorization: `Bearer ${live.adminToken}` },
  });
  const shown = await readEvents(stream.body as ReadableStream<Uint8Array>, 40);
  expect(shown.some((event) => takenBySecond.has(partitions.of(event.device as string)))).toBe(true);

  // kill -9 the instance that holds the central push: its devices and its singleton work move.
  const centralHolder = holderPid('central');
  const victim = pids().indexOf(centralHolder as number);
  expect(victim).toBeGreaterThanOrEqual(0);
  const survivor = pids()[1 - victim] as number;
  await live.bridges[victim]?.kill();
  await expect.poll(() => holderPid('central'), { timeout: 30_000 }).toBe(survivor);
  await expect.poll(() => partitionHolders().get(survivor), { timeout: 30_000 }).toBe(16);
  await sleep(5000);

  // Then a broker node: its gateways try the other nodes by themselves, which refuse most of them while
  // the node is down (NATS 2.9: docs/scale-out.md); the others keep sending.
  const node = live.cluster.nodes[1];
  await node?.kill();
  await sleep(10_000);

  // Restart both: the node, every gateway connected again, and the instance, which takes its share back.
  await node?.start();
  await fleet.connect();
  const restarted = await live.restart(victim);
  await expect
    .poll(() => [...partitionHolders().keys()].sort(), { timeout: 30_000 })
    .toEqual([survivor, restarted.child.pid].sort());
  await sleep(10_000);
  fleet.stopTapping();

  // No device is left waiting: every record tapped is acknowledged, the gap-fillers included.
  await fleet.drained(180_000).catch((error: Error) => {
    const said = live.bridges.flatMap((bridge, i) => bridge.lines.slice(-15).map((line) => `[${i}] ${line}`));
    throw new Error(
      `${error.message}; the devices behind:\n${behind(devices).join('\n')}\n` +
        `the instances' last warnings and errors:\n${said.join('\n')}`,
    );
  });
  const tapped = new Map(fleet.devices.map((device) => [device.id, device.counters.tapped]));
  const total = [...tapped.values()].reduce((sum, n) => sum + n, 0);
  expect(total).toBeGreaterThan(DEVICES * RATE * 30);
  for (const device of fleet.devices) expect(device.lastAcked, device.id).toBe(device.counters.tapped);

  // Stored exactly once, in order per device.
  const stored = new Map<string, number[]>();
  for (const row of store.database
    .prepare<[], { device: string; seq: number }>('SELECT device, seq FROM events ORDER BY id')
    .all())
    stored.set(row.device, [...(stored.get(row.device) ?? []), Number(row.seq)]);
  const expected = (device: string) => Array.from({ length: tapped.get(device) as number }, (_, i) => i + 1);
  for (const device of tapped.keys()) expect(stored.get(device), device).toEqual(expected(device));

  // Delivered to the central system once each, in order per device.
  await expect.poll(() => central.events.length, { timeout: 120_000 }).toBe(total);
  for (const device of tapped.keys())
    expect(
      central.deviceEvents(device).map((event) => event.seq),
      device,
    ).toEqual(expected(device));
}, 900_000);
