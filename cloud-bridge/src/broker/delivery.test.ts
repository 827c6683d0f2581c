import { type BareBroker, startBareBroker } from '@educard/scripts/support';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishToDevice } from './delivery.js';

let broker: BareBroker;
let url: string;
const clients: MqttClient[] = [];

beforeEach(async () => {
  broker = await startBareBroker();
  url = broker.url;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  await broker.close();
});

async function connect(clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
  clients.push(client);
  return client;
}

/** Fills the client's socket past its high-water mark: the next writes must wait for a drain. */
function backUp(client: MqttClient): void {
  client.publish('filler', Buffer.alloc(8 * 1024 * 1024), { qos: 0 });
  expect(client.stream.writableNeedDrain).toBe(true);
}

describe('publishToDevice', () => {
  it('holds messages for a backed-up socket on one drain listener, then delivers every one, in order, at QoS 0', async () => {
    const device = await connect('gate-01');
    const received: { seq: number; qos: number; retain: boolean }[] = [];
    device.on('message', (_topic, payload, packet) =>
      received.push({ seq: Number(payload.toString()), qos: packet.qos, retain: packet.retain }),
    );
    await device.subscribeAsync('acks', { qos: 1 });
    const bridge = await connect('bridge');
    const warnings: Error[] = [];
    const warned = (warning: Error) => warnings.push(warning);
    process.on('warning', warned);
    try {
      backUp(bridge);
      const baseline = bridge.stream.listenerCount('drain');
      const sent = Array.from({ length: 3000 }, (_, i) => publishToDevice(bridge, 'acks', String(i + 1)));
      // All 3,000 are waiting: mqtt.js's own wait would be a listener each.
      expect(bridge.stream.listenerCount('drain')).toBe(baseline + 1);
      await Promise.all(sent);
      await expect.poll(() => received.length, { timeout: 20_000 }).toBe(3000);
    } finally {
      process.off('warning', warned);
    }
    expect(received.map((message) => message.seq)).toEqual(Array.from({ length: 3000 }, (_, i) => i + 1));
    expect(new Set(received.map((message) => message.qos))).toEqual(new Set([0]));
    expect(received.some((message) => message.retain)).toBe(false);
    expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  it('publishes at once when the socket takes more, retained when asked', async () => {
    const device = await connect('gate-02');
    const bridge = await connect('bridge');
    await publishToDevice(bridge, 'acks/gate-02', 'last', { retain: true });
    const retained = new Promise<{ payload: string; retain: boolean }>((resolve) =>
      device.once('message', (_topic, payload, packet) =>
        resolve({ payload: payload.toString(), retain: packet.retain }),
      ),
    );
    await device.subscribeAsync('acks/gate-02', { qos: 0 });
    expect(await retained).toEqual({ payload: 'last', retain: true });
    expect(bridge.stream.listenerCount('drain')).toBe(0);
  });

  it('lets the waiting messages go when the connection closes before the socket drained', async () => {
    const bridge = await connect('bridge');
    backUp(bridge);
    const sent = Array.from({ length: 50 }, (_, i) => publishToDevice(bridge, 'acks', String(i)));
    bridge.stream.destroy();
    // Settled, not hung: the ingest waiting on an ack must go on to the device's next batch.
    await expect(Promise.all(sent)).resolves.toHaveLength(50);
  });
});
