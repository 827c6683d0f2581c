import { DEVICE_DELIVERY_QOS } from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';

/** The wait for each socket to drain, shared by every message held for it. */
const drains = new WeakMap<object, Promise<void>>();

function drained(stream: MqttClient['stream']): Promise<void> {
  let waiting = drains.get(stream);
  if (!waiting) {
    waiting = new Promise<void>((resolve) => {
      const done = () => {
        stream.off('drain', done);
        stream.off('close', done);
        drains.delete(stream);
        resolve();
      };
      stream.once('drain', done);
      stream.once('close', done);
    });
    drains.set(stream, waiting);
  }
  return waiting;
}

/**
 * Publishes a message to one device (an ack, a sync answer) at DEVICE_DELIVERY_QOS once the broker's
 * socket takes more, and resolves when it is handed over. The caller awaiting it is the bridge's
 * backpressure: a device's next batch waits behind its ack, as it did behind mqtt.js's own drain wait.
 * That wait was one listener per message (over a thousand on one socket at 5,000 devices, and
 * Node's leak warning); here every held message waits on one. Gone from a connection that closed,
 * the message goes to mqtt.js's offline queue, as any publish does.
 */
export async function publishToDevice(
  client: MqttClient,
  topic: string,
  payload: string,
  options: { retain?: boolean } = {},
): Promise<void> {
  while (client.connected && client.stream.writableNeedDrain) await drained(client.stream);
  client.publish(topic, payload, { qos: DEVICE_DELIVERY_QOS, retain: options.retain ?? false });
}
