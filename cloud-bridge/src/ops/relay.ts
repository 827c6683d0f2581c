import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Operations } from './service.js';

/** Between bridge instances only: the bridge's own broker user may use them, a device's may not. */
const LIVE_TOPIC = 'educard-bridge/v1/live';
const WATCHING_TOPIC = 'educard-bridge/v1/live/watching';
/** How often an instance with streams open says so; an instance not heard for three is no longer watching. */
const WATCHING_EVERY_MS = 10_000;

const LiveIds = z.object({ from: z.string(), ids: z.array(z.number().int().positive()).max(100_000) });
const Watching = z.object({ from: z.string(), streams: z.number().int().nonnegative() });

interface RelayDeps {
  client: MqttClient;
  ops: Operations;
  /** This instance's name, so that it ignores its own messages. */
  instance: string;
  logger: Logger;
}

/**
 * The live stream of several bridge instances on one broker: each tells the others the ids of the
 * events it committed (QoS 0: the stream is a view that may drop, as a slow browser's does), and
 * shows the ids the others committed on its own streams, so a page sees every instance's ingest.
 * Ids go out only while another instance has a stream open: each says so when its first stream
 * opens, every 10 s while any is, and when its last closes, so that a district's ingest costs no
 * broker message and no query per commit while nobody watches (most of the day).
 */
export class LiveRelay {
  /** Instances with streams open, until when they count as watching (this process's clock). */
  private readonly watchers = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private readonly unwatch: () => void;

  private constructor(private readonly deps: RelayDeps) {
    this.timer = setInterval(() => {
      if (deps.ops.hub.size > 0) this.announce(deps.ops.hub.size);
    }, WATCHING_EVERY_MS).unref();
    // Announced at once: the others start sending from the first stream, not from the next beat.
    this.unwatch = deps.ops.hub.watchSize((size) => {
      if (size <= 1) this.announce(size);
    });
  }

  static async start(deps: RelayDeps): Promise<LiveRelay> {
    const relay = new LiveRelay(deps);
    // Its life is its client's: the bridge ends the client as it stops.
    deps.client.once('end', () => relay.stop());
    deps.client.on('message', (topic, payload) => relay.received(topic, payload));
    try {
      await deps.client.subscribeAsync([LIVE_TOPIC, WATCHING_TOPIC], { qos: 0 });
    } catch (error) {
      // A view is not worth a bridge: each instance's pages show its own ingest only.
      deps.logger.warn(
        { err: error, topics: [LIVE_TOPIC, WATCHING_TOPIC] },
        "the broker refused the live stream between bridge instances (its ACL must give the bridge's user educard-bridge/v1/#): each instance's live stream shows only what it ingests",
      );
      relay.stop();
      return relay;
    }
    deps.ops.shareStream({ send: (ids) => relay.send(ids), wanted: () => relay.watched() });
    return relay;
  }

  /** Whether another instance has a stream open. */
  watched(): boolean {
    const nowMs = performance.now();
    for (const [instance, until] of this.watchers) {
      if (until > nowMs) return true;
      this.watchers.delete(instance);
    }
    return false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.unwatch();
  }

  private received(topic: string, payload: Buffer): void {
    if (topic !== LIVE_TOPIC && topic !== WATCHING_TOPIC) return;
    try {
      const message = JSON.parse(payload.toString('utf8'));
      if (topic === LIVE_TOPIC) {
        const live = LiveIds.parse(message);
        if (live.from !== this.deps.instance) this.deps.ops.streamStored(live.ids);
        return;
      }
      const watching = Watching.parse(message);
      if (watching.from === this.deps.instance) return;
      if (watching.streams > 0) this.watchers.set(watching.from, performance.now() + 3 * WATCHING_EVERY_MS);
      else this.watchers.delete(watching.from);
    } catch (error) {
      this.deps.logger.warn({ err: error, topic }, 'live stream message from another instance not used');
    }
  }

  private send(ids: number[]): void {
    this.publish(
      LIVE_TOPIC,
      { from: this.deps.instance, ids },
      'live stream not shared with the other instances',
    );
  }

  private announce(streams: number): void {
    this.publish(
      WATCHING_TOPIC,
      { from: this.deps.instance, streams },
      'live streams open not told to the other instances',
    );
  }

  private publish(topic: string, message: object, failure: string): void {
    this.deps.client.publish(topic, JSON.stringify(message), { qos: 0 }, (error) => {
      if (error) this.deps.logger.warn({ err: error }, failure);
    });
  }
}
