import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Operations } from './service.js';

/** Between bridge instances only: the bridge's own broker user may use it, a device's may not. */
const LIVE_TOPIC = 'educard-bridge/v1/live';

const LiveIds = z.object({ from: z.string(), ids: z.array(z.number().int().positive()).max(100_000) });

/**
 * The live stream of several bridge instances on one broker: each tells the others the ids of the
 * events it committed (QoS 0: the stream is a view that may drop, as a slow browser's does), and
 * shows the ids the others committed on its own streams, so a page sees every instance's ingest.
 */
export async function relayLiveStream(deps: {
  client: MqttClient;
  ops: Operations;
  instance: string;
  logger: Logger;
}): Promise<void> {
  const { client, ops, instance, logger } = deps;
  client.on('message', (topic, payload) => {
    if (topic !== LIVE_TOPIC) return;
    try {
      const message = LiveIds.parse(JSON.parse(payload.toString('utf8')));
      if (message.from !== instance) ops.streamStored(message.ids);
    } catch (error) {
      logger.warn({ err: error }, 'live stream message from another instance not shown');
    }
  });
  await client.subscribeAsync(LIVE_TOPIC, { qos: 0 });
  ops.shareStream((ids) => {
    client.publish(LIVE_TOPIC, JSON.stringify({ from: instance, ids }), { qos: 0 }, (error) => {
      if (error) logger.warn({ err: error }, 'live stream not shared with the other instances');
    });
  });
}
