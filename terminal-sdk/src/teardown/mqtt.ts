import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { STOP_STEP_MS, within } from './index.js';

const inFlight = (client: MqttClient) => Object.keys(client.outgoing).length;

/**
 * Ends an MQTT client within a bound. mqtt.js's own end waits for every message in flight to be
 * acknowledged, and then for the broker to close the connection: for ever when the connection is
 * down (nothing in flight is sent again once ending) or the broker has stopped answering. Here a
 * live connection gets `ms` to settle what is in flight and `ms` to say goodbye (a DISCONNECT, so
 * the broker does not publish the will); otherwise the connection is closed at once.
 */
export async function endMqttClient(client: MqttClient, ms = STOP_STEP_MS): Promise<void> {
  // Polled: mqtt.js tells of an empty outgoing store only once ending.
  for (const until = performance.now() + ms; client.connected && inFlight(client) > 0; ) {
    if (performance.now() > until) break;
    await sleep(10);
  }
  const graceful = client.connected && inFlight(client) === 0;
  const ended = client.endAsync(!graceful);
  if (!graceful) return ended;
  await within(ms, ended).catch(() => {
    client.stream.destroy();
    return ended;
  });
}
