import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bridge, parseBridgeConfig } from '@educard/cloud-bridge';
import { type Gateway, parseConfig, type SimulatedReaderDriver } from '@educard/gateway';
import { type Mosquitto, startMosquitto, until } from '@educard/scripts/support';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';
import { stallingRelay } from '../support/stalling-relay.js';

// A broker node back from a crash (NATS while JetStream recovers) can take a connection and then hold
// its SUBSCRIBE without a SUBACK for minutes. A gateway that waits on it sends nothing all that time.
// So can a bridge that reconnects to it. Here a relay in front of a real broker swallows the
// SUBSCRIBEs of the connection under test. A node that dies for good must not cut its clients off
// the cluster either: a gateway and a bridge given the cluster's other nodes (`failover`) go on
// through the next one; the node that dies is the relay, closed, and the other the broker itself.

let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;
let relay: Awaited<ReturnType<typeof stallingRelay>> | undefined;
let mosquitto: Mosquitto | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'broker-nodes-'));
});
afterEach(async () => {
  await gateway?.stop();
  relay?.close();
  await bridge?.stop();
  await mosquitto?.stop();
  gateway = undefined;
  relay = undefined;
  bridge = undefined;
  mosquitto = undefined;
  await rm(dir, { recursive: true, force: true });
});

/**
 * gate-01 enrolled at `live`, its uplink to the URL `via` gives for the broker it was told (the broker
 * itself, or a relay in front of it), with `failover` as the cluster's other nodes, sending again
 * after 1.5 s without an ack.
 */
async function startGate(
  live: Bridge,
  via: (brokerUrl: string) => Promise<string>,
  failover: string[] = [],
): Promise<Gateway> {
  const credentials = await enrollDevice(live.httpUrl, join(dir, 'gate-01'), 'gate-01');
  gateway = await startUplinkGateway(
    join(dir, 'gate-01'),
    'gate-01',
    { ...credentials, url: await via(credentials.url) },
    live.httpUrl,
    { batch: { ackTimeoutMs: 1500 }, failover },
  );
  return gateway;
}

/** Taps `count` more cards at the gate and waits until the bridge has stored every record it journaled. */
async function tapsStored(live: Bridge, gate: Gateway, count: number, what: string): Promise<void> {
  const driver = gate.readers as SimulatedReaderDriver;
  const before = gate.journal.stats().lastSeq;
  for (let i = 1; i <= count; i++) driver.present('sim-in', { uid: sampleUid(before + i) });
  await until(
    () => {
      const { lastSeq } = gate.journal.stats();
      return lastSeq >= before + count && live.store.countEvents({ device: 'gate-01' }) === lastSeq;
    },
    { what, timeoutMs: 30_000 },
  );
}

// Refused (0x80), the gateway must not stay: mqtt.js does not ask for refused filters again, and it
// would send batches whose acks it never hears.
it.each([
  { what: 'holds its subscriptions without an answer', refuse: false },
  { what: 'refuses its subscriptions', refuse: true },
])('leaves a broker that $what, and delivers through the next connection', async ({ refuse }) => {
  bridge = await startBridge(join(dir, 'bridge'));
  const live = await startGate(bridge, async (brokerUrl) => {
    relay = await stallingRelay(Number(new URL(brokerUrl).port), (_, nth) => nth === 1, refuse);
    return relay.url;
  });
  const stalling = relay as NonNullable<typeof relay>;
  const driver = live.readers as SimulatedReaderDriver;
  for (let i = 1; i <= 5; i++) driver.present('sim-in', { uid: sampleUid(i) });
  const store = bridge.store;
  await until(() => live.journal.stats().ackedSeq === live.journal.stats().lastSeq, {
    what: 'the taps acknowledged through a second connection',
    timeoutMs: 30_000,
  });
  expect(stalling.swallowed()).toBeGreaterThan(0);
  expect(stalling.connections()).toBeGreaterThanOrEqual(2);
  expect(live.uplink?.status().reconnects).toBeGreaterThanOrEqual(1);
  expect(store.countEvents({ device: 'gate-01' })).toBe(live.journal.stats().lastSeq);
});

it('a bridge that reconnects to a broker holding its subscriptions leaves it, and hears the devices again', async () => {
  mosquitto = await startMosquitto(dir);
  // The bridge's second connection (its reconnection after the cut below) has its SUBSCRIBEs held.
  const stalling = await stallingRelay(Number(new URL(mosquitto.url).port), (_, nth) => nth === 2);
  relay = stalling;
  bridge = await startBridge(join(dir, 'bridge'), {
    mqtt: { embedded: false, url: stalling.url, subscribeTimeoutMs: 2000 },
  });
  // The gateway goes to the broker itself: only the bridge's link is cut and held.
  const broker = mosquitto.url;
  const live = await startGate(bridge, async () => broker);
  const driver = live.readers as SimulatedReaderDriver;
  const store = bridge.store;
  const delivered = () => store.countEvents({ device: 'gate-01' }) === live.journal.stats().lastSeq;
  for (let i = 1; i <= 3; i++) driver.present('sim-in', { uid: sampleUid(i) });
  await until(delivered, { what: 'the first taps stored', timeoutMs: 20_000 });

  stalling.cut();
  await until(() => stalling.swallowed() > 0, { what: "the bridge's SUBSCRIBE held", timeoutMs: 20_000 });
  for (let i = 4; i <= 8; i++) driver.present('sim-in', { uid: sampleUid(i) });
  await until(delivered, { what: 'the taps after the cut stored', timeoutMs: 30_000 });
  expect(stalling.connections()).toBeGreaterThanOrEqual(3);
  expect(live.journal.stats().lastSeq).toBeGreaterThanOrEqual(9);
});

it('a gateway whose broker node dies goes on through the next node', async () => {
  bridge = await startBridge(join(dir, 'bridge'));
  const brokerPort = Number(new URL(bridge.mqttUrl).port);
  const dying = await stallingRelay(brokerPort, () => false);
  relay = dying;
  const gate = await startGate(bridge, async () => dying.url, [`mqtt://127.0.0.1:${brokerPort}`]);
  await tapsStored(bridge, gate, 3, 'the first taps stored through the first node');
  expect(dying.connections()).toBe(1);

  dying.close();
  await tapsStored(bridge, gate, 5, 'the taps after the node died stored through the next');
  expect(gate.uplink?.status().reconnects).toBeGreaterThanOrEqual(1);
  expect(dying.connections()).toBe(1);
});

it('a bridge whose broker node dies goes on through the next node', async () => {
  mosquitto = await startMosquitto(dir);
  const dying = await stallingRelay(Number(new URL(mosquitto.url).port), () => false);
  relay = dying;
  bridge = await startBridge(join(dir, 'bridge'), {
    mqtt: { embedded: false, url: dying.url, failover: [mosquitto.url] },
  });
  // The gateway goes to the broker itself: only the bridge's node dies.
  const broker = mosquitto.url;
  const gate = await startGate(bridge, async () => broker);
  await tapsStored(bridge, gate, 3, 'the first taps stored, the bridge on the first node');

  dying.close();
  await tapsStored(bridge, gate, 5, 'the taps after its node died stored, the bridge on the next');
  expect(dying.connections()).toBe(1);
});

it('refuses, in either configuration, a failover node that is not of the same scheme as the first', () => {
  const uplink = {
    url: 'mqtts://nats-1:8883',
    bridgeHttp: 'https://bridge',
    failover: ['mqtt://nats-2:1883'],
  };
  expect(() =>
    parseConfig({
      device: { id: 'gate-01', school: 'school-1' },
      dataDir: '/var/lib/educard',
      station: { id: 'gate-main', zone: 'main-gate' },
      uplink,
    }),
  ).toThrow(/failover.*nats-2:1883 is not mqtts:/);
  expect(() =>
    parseBridgeConfig({
      dataDir: '/var/lib/educard-bridge',
      adminToken: 'a'.repeat(32),
      mqtt: { embedded: false, url: uplink.url, failover: uplink.failover },
    }),
  ).toThrow(/failover.*nats-2:1883 is not mqtts:/);
});
