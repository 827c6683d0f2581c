import type { MqttClient, Packet } from 'mqtt';
import type { Logger } from 'pino';

/** A SUBACK's return code for a subscription the broker refused. */
const REFUSED = 0x80;

export interface SubscriptionWatch {
  /** Connected, and every SUBSCRIBE of this connection acknowledged: the bridge hears what it asked for. */
  granted(): boolean;
  stop(): void;
}

/**
 * mqtt.js subscribes again after each reconnection, and a broker may take the connection and then
 * hold the SUBSCRIBE (a NATS node while JetStream recovers) or refuse it: connected then means deaf,
 * and an instance that counted itself ready would hold its devices' partitions without hearing them.
 * This follows each SUBSCRIBE to its SUBACK; one not granted within `withinMs` ends the connection,
 * and mqtt.js makes another (and subscribes again).
 */
export function watchSubscriptions(
  client: MqttClient,
  { withinMs, logger }: { withinMs: number; logger: Logger },
): SubscriptionWatch {
  /** SUBSCRIBE message ids not granted yet, with when each was sent. */
  const waiting = new Map<number, number>();
  const onSend = (packet: Packet) => {
    if (packet.cmd === 'subscribe' && packet.messageId !== undefined)
      waiting.set(packet.messageId, performance.now());
  };
  const onReceive = (packet: Packet) => {
    if (packet.cmd !== 'suback' || packet.messageId === undefined) return;
    if (packet.granted.some((code) => code === REFUSED)) {
      // Left waiting: the connection is ended when its time is up, as for no answer.
      logger.warn('the broker refused a subscription: trying again on a new connection');
      return;
    }
    waiting.delete(packet.messageId);
  };
  const onClose = () => waiting.clear();
  client.on('packetsend', onSend);
  client.on('packetreceive', onReceive);
  client.on('close', onClose);
  const timer = setInterval(() => {
    if (waiting.size === 0 || performance.now() - Math.min(...waiting.values()) < withinMs) return;
    logger.warn({ waitedMs: withinMs }, 'the broker has not granted the subscriptions: reconnecting');
    waiting.clear();
    client.stream.destroy();
  }, 1000);
  timer.unref();
  return {
    granted: () => client.connected && waiting.size === 0,
    stop() {
      clearInterval(timer);
      client.off('packetsend', onSend);
      client.off('packetreceive', onReceive);
      client.off('close', onClose);
    },
  };
}
