import { randomBytes } from 'node:crypto';
import { filters, refusesFilter, TOPIC_ROOT, topics, unsharedFilter } from '@educard/terminal-sdk';
import type { ISubscriptionMap, MqttClient, Packet } from 'mqtt';
import type { Logger } from 'pino';

/** How soon after a refused SUBSCRIBE the connection is made again (sooner when `withinMs` is shorter). */
const REFUSED_RETRY_MS = 5_000;

/**
 * A filter of the device protocol (under `educard/v1/`, shared or not): what ingest and the devices
 * need. Another refused (the live stream between instances, `educard-bridge/v1/…`, which a
 * third-party broker's ACL may not allow) is its subscriber's to handle, not a node's fault.
 */
const ofDevices = (filter: string) => unsharedFilter(filter).startsWith(`${TOPIC_ROOT}/`);

export interface SubscriptionWatch {
  /**
   * Connected, every SUBSCRIBE of this connection acknowledged and, when probing, the bridge's own
   * probe heard through its events subscription on this connection: the bridge hears what it asked for.
   */
  granted(): boolean;
  stop(): void;
}

export interface SubscriptionWatchOptions {
  withinMs: number;
  /**
   * How often a probe goes out on the bridge's own events topic (`topics.bridgeProbe`), 0 for none.
   * Only for a subscription every instance receives whole: under `$share/` the probe reaches one.
   */
  probeEveryMs?: number;
  /** The QoS devices publish their batches with: the probe goes their way. */
  probeQos?: 0 | 1;
  logger: Logger;
}

/**
 * mqtt.js subscribes again after each reconnection, and a broker may take the connection and then
 * hold the SUBSCRIBE (a NATS node while JetStream recovers) or refuse it: connected then means deaf,
 * and an instance that counted itself ready would hold its devices' partitions without hearing them.
 * This follows each SUBSCRIBE to its SUBACK; one not granted within `withinMs` ends the connection,
 * and mqtt.js makes another (and subscribes again); one refused ends it 5 s later. mqtt.js forgets
 * the filters of a refused SUBSCRIBE, so it would not send that one again: deaf for good, and counted
 * ready, since what it does send is granted. Those filters are subscribed again here on the next
 * connection.
 *
 * A granted SUBSCRIBE is still only the broker's word: on NATS each QoS 1 subscription is a
 * JetStream consumer, made anew on each connection, and one that delivers nothing is granted all the
 * same. So the bridge also sends itself a probe through its events subscription, at the devices'
 * QoS (the path of every batch), every `probeEveryMs`; none heard for `withinMs` ends the connection
 * as well.
 */
export function watchSubscriptions(
  client: MqttClient,
  { withinMs, probeEveryMs = 0, probeQos = 1, logger }: SubscriptionWatchOptions,
): SubscriptionWatch {
  /** SUBSCRIBE message ids not granted yet, with when each was sent. */
  const waiting = new Map<number, number>();
  /** The filters of each SUBSCRIBE not answered yet, and those of refused ones to send again. */
  const sent = new Map<number, ISubscriptionMap>();
  let refused: ISubscriptionMap = {};
  let refusedAt: number | undefined;
  /** The events filter granted on this connection: probes go out only once it is. */
  let eventsGranted = false;
  const probeTopic = topics.bridgeProbe(randomBytes(6).toString('hex'));
  /**
   * Each connection's probes carry its number, so one sent on an earlier connection answers nothing.
   * A probe may be lost without a fault (QoS 0 under load): any one of this connection's answers
   * those sent before it, and only none heard for `withinMs` since the first unanswered one went ends
   * the connection. `heard`: one came back on this connection.
   */
  let connection = 0;
  let unansweredSince: number | undefined;
  let lastProbeAt = Number.NEGATIVE_INFINITY;
  let heard = false;
  const onSend = (packet: Packet) => {
    if (packet.cmd !== 'subscribe' || packet.messageId === undefined) return;
    waiting.set(packet.messageId, performance.now());
    sent.set(
      packet.messageId,
      Object.fromEntries(packet.subscriptions.map(({ topic, qos }) => [topic, { qos }])),
    );
  };
  const onReceive = (packet: Packet) => {
    if (packet.cmd === 'publish' && packet.topic === probeTopic) {
      if (packet.payload.toString() === String(connection)) {
        unansweredSince = undefined;
        heard = true;
      }
      return;
    }
    if (packet.cmd !== 'suback' || packet.messageId === undefined) return;
    const filtersSent = sent.get(packet.messageId);
    sent.delete(packet.messageId);
    if (packet.granted.some(refusesFilter)) {
      if (!Object.keys(filtersSent ?? {}).some(ofDevices)) {
        waiting.delete(packet.messageId);
        return;
      }
      refused = { ...refused, ...filtersSent };
      // Left waiting, and the connection ended a little later: a node that refuses now (NATS while
      // a node of its cluster is down) may take it on the next connection, or the next node will.
      refusedAt ??= performance.now();
      logger.warn('the broker refused a subscription: trying again on a new connection');
      return;
    }
    waiting.delete(packet.messageId);
    if (filtersSent && filters.allEvents in filtersSent) {
      eventsGranted = true;
      // At once: the instance is not ready for its partitions until its probe comes back.
      if (unansweredSince === undefined) sendProbe();
    }
  };
  const onClose = () => {
    refusedAt = undefined;
    waiting.clear();
    sent.clear();
    eventsGranted = false;
    heard = false;
    unansweredSince = undefined;
    connection += 1;
  };
  const onConnect = () => {
    if (Object.keys(refused).length === 0) return;
    const again = refused;
    refused = {};
    logger.info({ filters: Object.keys(again) }, 'subscribing again to what the broker refused before');
    client.subscribe(again, () => undefined);
  };
  const sendProbe = () => {
    if (probeEveryMs <= 0 || !client.connected) return;
    lastProbeAt = performance.now();
    unansweredSince ??= lastProbeAt;
    client.publish(probeTopic, String(connection), { qos: probeQos }, () => undefined);
  };
  const reconnect = (message: string, since: number) => {
    logger.warn({ waitedMs: Math.round(performance.now() - since) }, message);
    waiting.clear();
    refusedAt = undefined;
    client.stream.destroy();
  };
  client.on('packetsend', onSend);
  client.on('packetreceive', onReceive);
  client.on('close', onClose);
  client.on('connect', onConnect);
  const timer = setInterval(() => {
    const now = performance.now();
    if (refusedAt !== undefined && now - refusedAt >= Math.min(withinMs, REFUSED_RETRY_MS))
      return reconnect('reconnecting to subscribe again to what the broker refused', refusedAt);
    const oldest = Math.min(...waiting.values());
    if (waiting.size > 0 && now - oldest >= withinMs)
      return reconnect('the broker has not granted the subscriptions: reconnecting', oldest);
    if (probeEveryMs <= 0 || !client.connected || !eventsGranted) return;
    if (unansweredSince !== undefined && now - unansweredSince >= withinMs)
      return reconnect(
        'the broker has not delivered the bridge its own probes through its events subscription: reconnecting ' +
          '(a broker that does not let the bridge publish to educard/v1/_bridge/# does the same: see mqtt.probeEveryMs)',
        unansweredSince,
      );
    if (now - lastProbeAt >= probeEveryMs) sendProbe();
  }, 1000);
  timer.unref();
  return {
    granted: () => client.connected && waiting.size === 0 && (probeEveryMs <= 0 || heard),
    stop() {
      clearInterval(timer);
      client.off('packetsend', onSend);
      client.off('packetreceive', onReceive);
      client.off('close', onClose);
      client.off('connect', onConnect);
    },
  };
}
