import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway, SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { sampleUid } from '@educard/terminal-sdk/testing';
import mqttPacket from 'mqtt-packet';
import { afterAll, expect, it } from 'vitest';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

// A broker node back from a crash (NATS while JetStream recovers) can take a connection and then hold
// its SUBSCRIBE without a SUBACK for minutes. A gateway that waits on it sends nothing all that time.
// Here a relay in front of the bridge's real broker swallows the first connection's SUBSCRIBEs.

let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;
let relay: Server | undefined;
const sockets: Socket[] = [];

afterAll(async () => {
  await gateway?.stop();
  for (const socket of sockets) socket.destroy();
  relay?.close();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Relays MQTT to `port`, dropping every SUBSCRIBE of the first connection; counts connections. */
async function stallingRelay(port: number) {
  let connections = 0;
  let swallowed = 0;
  relay = createServer((client) => {
    connections += 1;
    const stalls = connections === 1;
    const broker = createConnection({ host: '127.0.0.1', port });
    sockets.push(client, broker);
    const parser = mqttPacket.parser();
    parser.on('packet', (packet) => {
      if (stalls && packet.cmd === 'subscribe') swallowed += 1;
      else broker.write(mqttPacket.generate(packet));
    });
    client.on('data', (chunk) => parser.parse(chunk));
    broker.pipe(client);
    const close = () => {
      client.destroy();
      broker.destroy();
    };
    client.on('close', close).on('error', close);
    broker.on('close', close).on('error', close);
  });
  await new Promise<void>((resolve) => relay?.listen(0, '127.0.0.1', resolve));
  const address = relay.address() as { port: number };
  return {
    url: `mqtt://127.0.0.1:${address.port}`,
    connections: () => connections,
    swallowed: () => swallowed,
  };
}

it('leaves a broker that holds its subscriptions without an answer, and delivers through the next connection', async () => {
  dir = await mkdtemp(join(tmpdir(), 'subscribe-stall-'));
  bridge = await startBridge(join(dir, 'bridge'));
  const credentials = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
  const stalling = await stallingRelay(Number(new URL(credentials.url).port));
  gateway = await startUplinkGateway(
    join(dir, 'gate-01'),
    'gate-01',
    { ...credentials, url: stalling.url },
    bridge.httpUrl,
    { batch: { ackTimeoutMs: 1500 } },
  );
  const driver = gateway.readers as SimulatedReaderDriver;
  for (let i = 1; i <= 5; i++) driver.present('sim-in', { uid: sampleUid(i) });
  const live = gateway;
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
