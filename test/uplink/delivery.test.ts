import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway, SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'delivery-'));
});
afterEach(async () => {
  await gateway?.stop();
  await bridge?.stop();
  gateway = undefined;
  bridge = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('gateway to bridge', () => {
  // uplink.batch.qos left out is 1; 0 is what a district on NATS sets. Acks come at QoS 0 either way.
  it.each([
    ['left out', undefined, 1],
    ['0', 0, 0],
  ] as const)(
    'with uplink.batch.qos %s: delivers every journaled event once, the gateway drops only what the bridge acknowledged, and batches and acks go at their QoS',
    async (_setting, setQos, qos) => {
      bridge = await startBridge(join(dir, 'bridge'));
      const published: { topic: string; qos: number }[] = [];
      bridge.broker?.aedes.on('publish', (packet) => {
        if (/\/devices\/gate-01\/(events|ack)$/.test(packet.topic))
          published.push({ topic: packet.topic, qos: packet.qos });
      });
      const mqtt = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
      gateway = await startUplinkGateway(
        join(dir, 'gate-01'),
        'gate-01',
        mqtt,
        bridge.httpUrl,
        setQos === undefined ? {} : { batch: { qos: setQos } },
      );
      const driver = gateway.readers as SimulatedReaderDriver;
      for (let i = 0; i < 300; i++) driver.present('sim-in', { uid: sampleUid(i) });
      const journal = gateway.journal;
      await until(
        () => journal.stats().ackedSeq === journal.stats().lastSeq && journal.stats().lastSeq >= 301,
      );
      expect(bridge.store.cursor('gate-01').seq).toBe(journal.stats().lastSeq);
      expect(bridge.store.countEvents({ device: 'gate-01' })).toBe(journal.stats().lastSeq);
      const device = bridge.store.getDevice('gate-01');
      expect(device?.presence).toMatchObject({ online: true, firmware: '0.1.0' });
      const events = published.filter(({ topic }) => topic.endsWith('/events'));
      const acks = published.filter(({ topic }) => topic.endsWith('/ack'));
      expect(events.length).toBeGreaterThan(0);
      expect(acks.length).toBeGreaterThan(0);
      expect(new Set(events.map((packet) => packet.qos))).toEqual(new Set([qos]));
      expect(new Set(acks.map((packet) => packet.qos))).toEqual(new Set([0]));
    },
  );
});
