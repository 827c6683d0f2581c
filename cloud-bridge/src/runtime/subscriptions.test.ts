import { type BareBroker, startBareBroker } from '@educard/scripts/support';
import { parseDeviceTopic } from '@educard/terminal-sdk';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { watchSubscriptions } from './subscriptions.js';

let test: BareBroker;
const clients: MqttClient[] = [];

beforeEach(async () => {
  test = await startBareBroker();
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
  await test.close();
});

it('subscribes again, on the next connection, to what the broker refused once: the bridge is not left deaf', async () => {
  // The broker refuses the events filter once, as a NATS node does while a node of its cluster is down.
  let refusals = 0;
  test.aedes.authorizeSubscribe = (_client, subscription, done) => {
    if (subscription.topic === 'educard/v1/+/devices/+/events' && refusals === 0) {
      refusals += 1;
      return done(null, null);
    }
    done(null, subscription);
  };
  const bridge = await mqtt.connectAsync(test.url, { clientId: 'bridge', reconnectPeriod: 100 });
  clients.push(bridge);
  // A SUBACK not come would be waited for 20 s: a refusal ends the connection 5 s after it.
  const watch = watchSubscriptions(bridge, { withinMs: 20_000, logger: pino({ level: 'silent' }) });
  try {
    await expect(
      bridge.subscribeAsync(['educard/v1/+/devices/+/events', 'educard/v1/+/devices/+/state'], { qos: 1 }),
    ).rejects.toThrow(/Subscribe error/);
    expect(watch.granted()).toBe(false);
    // The watch ends that connection; on the next one both filters are subscribed again and granted.
    await expect
      .poll(() => refusals === 1 && watch.granted() && bridge.connected, { timeout: 12_000 })
      .toBe(true);
    const heard = new Promise<string>((resolve) => bridge.once('message', (topic) => resolve(topic)));
    const device = await mqtt.connectAsync(test.url, { clientId: 'gate-01', reconnectPeriod: 0 });
    clients.push(device);
    // Until the new SUBSCRIBE is granted the message could pass unheard: publish until it is heard.
    const publishing = setInterval(
      () => device.publish('educard/v1/school-1/devices/gate-01/events', 'batch', { qos: 1 }),
      100,
    );
    try {
      expect(await heard).toBe('educard/v1/school-1/devices/gate-01/events');
    } finally {
      clearInterval(publishing);
    }
  } finally {
    watch.stop();
  }
}, 30_000);

it('a subscription granted that delivers nothing (the bridge’s own probe unheard) is made again on a new connection', async () => {
  // The broker grants the events filter and then forwards nothing to the bridge on its first
  // connection, as a NATS JetStream consumer that was made and does not deliver.
  let connections = 0;
  test.aedes.on('client', (client) => {
    if (client.id === 'bridge') connections += 1;
  });
  test.aedes.authorizeForward = (client, packet) =>
    client.id === 'bridge' && connections === 1 ? null : packet;
  const bridge = await mqtt.connectAsync(test.url, { clientId: 'bridge', reconnectPeriod: 100 });
  clients.push(bridge);
  const watch = watchSubscriptions(bridge, {
    withinMs: 1500,
    probeEveryMs: 200,
    logger: pino({ level: 'silent' }),
  });
  try {
    await bridge.subscribeAsync(['educard/v1/+/devices/+/events'], { qos: 1 });
    // Granted by the broker, not heard: not ready.
    expect(watch.granted()).toBe(false);
    await expect.poll(() => connections, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => watch.granted(), { timeout: 10_000 }).toBe(true);
    // Probes go on, and the ingest sees none of them as a device's batch.
    const device = await mqtt.connectAsync(test.url, { clientId: 'gate-01', reconnectPeriod: 0 });
    clients.push(device);
    const heard = new Promise<string>((resolve) =>
      bridge.on('message', (topic) => {
        if (parseDeviceTopic(topic)) resolve(topic);
      }),
    );
    await device.publishAsync('educard/v1/school-1/devices/gate-01/events', 'batch', { qos: 1 });
    expect(await heard).toBe('educard/v1/school-1/devices/gate-01/events');
    expect(watch.granted()).toBe(true);
  } finally {
    watch.stop();
  }
}, 20_000);

it('a probe lost now and then (QoS 0 under load) ends no connection: the next one heard will do', async () => {
  // The broker drops the first two probes it would forward to the bridge, then forwards the rest.
  let connections = 0;
  let dropped = 0;
  test.aedes.on('client', (client) => {
    if (client.id === 'bridge') connections += 1;
  });
  test.aedes.authorizeForward = (client, packet) => {
    if (client.id !== 'bridge' || !packet.topic.startsWith('educard/v1/_bridge/') || dropped >= 2)
      return packet;
    dropped += 1;
    return null;
  };
  const bridge = await mqtt.connectAsync(test.url, { clientId: 'bridge', reconnectPeriod: 100 });
  clients.push(bridge);
  const watch = watchSubscriptions(bridge, {
    withinMs: 4000,
    probeEveryMs: 500,
    probeQos: 0,
    logger: pino({ level: 'silent' }),
  });
  try {
    await bridge.subscribeAsync(['educard/v1/+/devices/+/events'], { qos: 1 });
    await expect.poll(() => watch.granted(), { timeout: 10_000 }).toBe(true);
    expect([dropped, connections]).toEqual([2, 1]);
  } finally {
    watch.stop();
  }
}, 20_000);
