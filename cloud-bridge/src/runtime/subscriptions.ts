import { refusesFilter } from '@educard/terminal-sdk';
import type { ISubscriptionMap, MqttClient, Packet } from 'mqtt';
import type { Logger } from 'pino';

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
 * and mqtt.js makes another (and subscribes again). mqtt.js forgets the filters of a refused
 * SUBSCRIBE, so it would not send that one again: deaf for good, and counted ready, since what it
 * does send is granted. Those filters are subscribed again here on the next connection.
 */
export function watchSubscriptions(
  client: MqttClient,
  { withinMs, logger }: { withinMs: number; logger: Logger },
): SubscriptionWatch {
  /** SUBSCRIBE message ids not granted yet, with when each was sent. */
  const waiting = new Map<number, number>();
  /** The filters of each SUBSCRIBE not answered yet, and those of refused ones to send again. */
  const sent = new Map<number, ISubscriptionMap>();
  let refused: ISubscriptionMap = {};
  const onSend = (packet: Packet) => {
    if (packet.cmd !== 'subscribe' || packet.messageId === undefined) return;
    waiting.set(packet.messageId, performance.now());
    sent.set(
      packet.messageId,
      Object.fromEntries(packet.subscriptions.map(({ topic, qos }) => [topic, { qos }])),
    );
  };
  const onReceive = (packet: Packet) => {
    if (packet.cmd !== 'suback' || packet.messageId === undefined) return;
    const filters = sent.get(packet.messageId);
    sent.delete(packet.messageId);
    if (packet.granted.some(refusesFilter)) {
      refused = { ...refused, ...filters };
      // Left waiting: the connection is ended when its time is up, as for no answer.
      logger.warn('the broker refused a subscription: trying again on a new connection');
      return;
    }
    waiting.delete(packet.messageId);
  };
  const onClose = () => {
    waiting.clear();
    sent.clear();
  };
  const onConnect = () => {
    if (Object.keys(refused).length === 0) return;
    const again = refused;
    refused = {};
    logger.info({ filters: Object.keys(again) }, 'subscribing again to what the broker refused before');
    client.subscribe(again, () => undefined);
  };
  client.on('packetsend', onSend);
  client.on('packetreceive', onReceive);
  client.on('close', onClose);
  client.on('connect', onConnect);
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
      client.off('connect', onConnect);
    },
  };
}
