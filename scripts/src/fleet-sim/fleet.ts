import type { BatchQos } from '@educard/terminal-sdk';
import { percentile } from '../bench/report.js';
import { type DeviceCounters, HANDSHAKE_MS, refused, SimulatedDevice } from './device.js';

export interface FleetOptions {
  bridgeHttp: string;
  adminToken: string;
  /** Broker nodes' MQTT URLs: device i connects to node i mod n, so a district is spread over them. */
  brokerUrls: string[];
  devices: number;
  /** Devices are spread over this many schools (`school-1`…). */
  schools?: number;
  /** Device ids are `<prefix>-<n>`. */
  prefix?: string;
  /** Enrollments (each a broker account) and connections made at once. */
  concurrency?: number;
  maxRecords?: number;
  ackTimeoutMs?: number;
  /** The QoS batches are published with: by default the one the bridge names at enrollment. */
  qos?: BatchQos;
}

export interface FleetStats extends DeviceCounters {
  devices: number;
  connected: number;
  backlog: number;
  /** Tap to the ack that covered it, in milliseconds, over every event acknowledged so far. */
  p50Ms: number;
  p99Ms: number;
  /** The QoS the devices publish their batches with, each one used. */
  batchQos: BatchQos[];
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function inParallel<T>(items: T[], limit: number, task: (item: T, index: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await task(items[index] as T, index);
      }
    }),
  );
}

/**
 * A simulated district: N light gateways (SimulatedDevice) in one process, enrolled over the bridge's
 * HTTP API with tokens a district admin makes, spread over the broker nodes, tapping at a set rate,
 * with outages (links dropped, backlogs piling up, reconnects) on demand.
 */
export class Fleet {
  private tapping: NodeJS.Timeout[] = [];

  private constructor(
    readonly devices: SimulatedDevice[],
    private readonly options: FleetOptions,
  ) {}

  /** Makes the tokens, then enrolls every device with its own. */
  static async enroll(options: FleetOptions): Promise<Fleet> {
    const schools = options.schools ?? Math.max(1, Math.ceil(options.devices / 50));
    const prefix = options.prefix ?? 'sim';
    const devices = Array.from(
      { length: options.devices },
      (_, i) =>
        new SimulatedDevice({
          id: `${prefix}-${i + 1}`,
          school: `school-${(i % schools) + 1}`,
          bridgeHttp: options.bridgeHttp,
          brokerUrls: options.brokerUrls,
          ...(options.maxRecords ? { maxRecords: options.maxRecords } : {}),
          ...(options.ackTimeoutMs ? { ackTimeoutMs: options.ackTimeoutMs } : {}),
          ...(options.qos !== undefined ? { qos: options.qos } : {}),
        }),
    );
    const tokens = new Map<string, string[]>();
    for (let s = 1; s <= schools; s++) {
      const school = `school-${s}`;
      const wanted = devices.filter((d) => d.school === school).length;
      const held: string[] = [];
      while (held.length < wanted)
        held.push(...(await makeTokens(options, school, Math.min(500, wanted - held.length))));
      tokens.set(school, held);
    }
    await inParallel(devices, options.concurrency ?? 50, (device) =>
      device.enroll((tokens.get(device.school) as string[]).pop() as string),
    );
    return new Fleet(devices, options);
  }

  /**
   * Connects every device not connected, device i to node i mod n; a device whose node does not take
   * it (down, or recovering and holding its subscriptions) tries the next node, as a gateway given
   * every node's address does, until `withinMs`. A refusal (a revoked device) is not tried again.
   * Rejects with the devices left unconnected.
   */
  async connect(devices = this.devices, withinMs = 180_000): Promise<void> {
    const urls = this.options.brokerUrls;
    const deadline = Date.now() + withinMs;
    const unconnected: string[] = [];
    await inParallel(devices, this.options.concurrency ?? 50, async (device) => {
      const index = this.devices.indexOf(device);
      for (let attempt = 0; !device.isConnected; attempt += 1) {
        const url = urls[(index + attempt) % urls.length] as string;
        try {
          await device.connect(url, Math.max(1000, Math.min(HANDSHAKE_MS, deadline - Date.now())));
        } catch (error) {
          if (refused(error) || Date.now() >= deadline) {
            unconnected.push((error as Error).message);
            return;
          }
        }
      }
    });
    if (unconnected.length)
      throw new Error(
        `${unconnected.length} of ${devices.length} devices not connected within ${withinMs} ms: ${unconnected.slice(0, 3).join('; ')}`,
      );
  }

  /** Every device taps `perSecond` times a second, at its own phase, until stopTapping. */
  startTapping(perSecond: number): void {
    const every = 1000 / perSecond;
    for (const device of this.devices) {
      const start = setTimeout(() => {
        device.tap();
        this.tapping.push(setInterval(() => device.tap(), every));
      }, Math.random() * every);
      this.tapping.push(start);
    }
  }

  stopTapping(): void {
    for (const timer of this.tapping) clearInterval(timer);
    this.tapping = [];
  }

  /** Drops the links of `devices` (their wills fire), and after `forMs` connects them again. */
  async outage(devices: SimulatedDevice[], forMs: number): Promise<void> {
    for (const device of devices) device.drop();
    await new Promise((resolve) => setTimeout(resolve, forMs));
    await this.connect(devices);
  }

  /** Resolves once every event tapped so far is acknowledged. */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.devices.some((d) => d.backlog > 0)) {
      if (Date.now() > deadline) {
        const stats = this.stats();
        throw new Error(
          `${stats.backlog} events still unacknowledged after ${timeoutMs} ms (${stats.connected}/${stats.devices} connected)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stats(): FleetStats {
    const total: FleetStats = {
      devices: this.devices.length,
      connected: 0,
      backlog: 0,
      tapped: 0,
      acked: 0,
      batchesSent: 0,
      resends: 0,
      syncAnswers: 0,
      connects: 0,
      refusals: 0,
      p50Ms: 0,
      p99Ms: 0,
      batchQos: [...new Set(this.devices.map((device) => device.batchQos))].sort(),
    };
    const latencies: number[] = [];
    for (const device of this.devices) {
      if (device.isConnected) total.connected += 1;
      total.backlog += device.backlog;
      for (const [key, value] of Object.entries(device.counters)) total[key as keyof DeviceCounters] += value;
      for (const latency of device.latencies) latencies.push(latency);
    }
    if (latencies.length) {
      total.p50Ms = percentile(latencies, 50);
      total.p99Ms = percentile(latencies, 99);
    }
    return total;
  }

  /** Forgets the latencies so far (after a warm-up). */
  resetLatencies(): void {
    for (const device of this.devices) device.latencies.length = 0;
  }

  async stop(): Promise<void> {
    this.stopTapping();
    await inParallel(this.devices, 200, (device) => device.stop());
  }
}

async function makeTokens(options: FleetOptions, school: string, count: number): Promise<string[]> {
  const response = await fetch(new URL('/v1/tokens', options.bridgeHttp), {
    method: 'POST',
    headers: { authorization: `Bearer ${options.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ school, count }),
  });
  const answer = (await response.json()) as { tokens?: string[]; message?: string };
  if (!response.ok || !answer.tokens)
    throw new Error(`no enrollment tokens for ${school}: ${answer.message}`);
  return answer.tokens;
}
