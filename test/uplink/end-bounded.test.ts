import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Mosquitto, startMosquitto, until } from '@educard/scripts/support';
import { endMqttClient } from '@educard/terminal-sdk';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { stallingRelay } from '../support/stalling-relay.js';

// A gateway or bridge stops (systemd's stop, an update's switch) whatever its broker does. mqtt.js's
// own end waits for every message in flight to be acknowledged: for ever on a dead link. A relay in
// front of a real Mosquitto plays the dead link.

let dir: string;
let mosquitto: Mosquitto;
let relay: Awaited<ReturnType<typeof stallingRelay>> | undefined;
let client: MqttClient | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'end-bounded-'));
  mosquitto = await startMosquitto(dir);
});
afterEach(async () => {
  client?.end(true);
  relay?.close();
  client = undefined;
  relay = undefined;
});
afterAll(async () => {
  await mosquitto?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function connectThroughRelay(clientId: string): Promise<MqttClient> {
  relay = await stallingRelay(mosquitto.port, () => false);
  client = await mqtt.connectAsync(relay.url, {
    clientId,
    reconnectPeriod: 200,
    will: { topic: `will/${clientId}`, payload: Buffer.from('gone'), qos: 1, retain: false },
  });
  return client;
}

/** A QoS 1 message sent and not acknowledged: in flight when the end comes. */
function sendUnanswered(on: MqttClient): void {
  on.publish('events/x', 'tap', { qos: 1 }, () => undefined);
  expect(Object.keys(on.outgoing).length).toBe(1);
}

it('ends within its bound on a link gone dead with a message in flight', async () => {
  const live = await connectThroughRelay('dead-link');
  relay?.freeze();
  sendUnanswered(live);
  const started = performance.now();
  await endMqttClient(live, 300);
  // The wait for the acknowledgement and the goodbye are each bounded; mqtt.js alone never returns.
  expect(performance.now() - started).toBeLessThan(5_000);
  expect(live.connected).toBe(false);
});

it('ends at once when the broker is gone with a message in flight', async () => {
  const live = await connectThroughRelay('no-broker');
  live.on('error', () => undefined);
  relay?.close();
  await until(() => !live.connected, { what: 'the connection down', timeoutMs: 5_000 });
  sendUnanswered(live);
  const started = performance.now();
  await endMqttClient(live, 30_000);
  expect(performance.now() - started).toBeLessThan(5_000);
});

it('says goodbye on a live link once what is in flight is acknowledged, so the broker drops the will', async () => {
  const watcher = await mqtt.connectAsync(mosquitto.url, { clientId: 'watcher' });
  const wills: string[] = [];
  watcher.on('message', (topic) => wills.push(topic));
  await watcher.subscribeAsync('will/#', { qos: 1 });
  const control = await mqtt.connectAsync(mosquitto.url, {
    clientId: 'control',
    will: { topic: 'will/control', payload: Buffer.from('gone'), qos: 1, retain: false },
  });
  try {
    const live = await connectThroughRelay('goodbye');
    live.publish('events/x', 'tap', { qos: 1 }, () => undefined);
    await endMqttClient(live, 5_000);
    expect(live.connected).toBe(false);
    // The control closes without a goodbye: its will comes, after any the first would have caused.
    control.end(true);
    await until(() => wills.includes('will/control'), { what: "the control's will", timeoutMs: 10_000 });
    expect(wills).toEqual(['will/control']);
  } finally {
    control.end(true);
    await watcher.endAsync(true);
  }
});
