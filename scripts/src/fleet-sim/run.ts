import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BatchQos } from '@educard/terminal-sdk';
import { startDistrict } from './district.js';
import { Fleet, type FleetStats } from './fleet.js';

export interface DistrictRunOptions {
  devices: number;
  /** Taps per device per second. */
  rate: number;
  /** How long the fleet taps, after every device is connected (and after the warm-up). */
  seconds: number;
  nodes: number;
  /** Share of the devices (0..1) whose link drops for the middle third of the run, then comes back. */
  outage: number;
  /** The QoS the gateways publish batches with, as `uplink.batch.qos`: by default as enrollment names it. */
  qos?: BatchQos | undefined;
  /**
   * Seconds of tapping before latencies count (the births being answered, the first batches): their
   * events must still be acknowledged, but p50 and p99 are of the steady run after it.
   */
  warmupS?: number;
  /** Told of progress, once every few seconds. */
  progress?: (line: string) => void;
}

export interface DistrictRunResult extends FleetStats {
  enrollS: number;
  connectS: number;
  /** Events acknowledged a second over the tapping and the drain after it. */
  eventsPerS: number;
  /** Whether every event tapped was acknowledged before the end. */
  drained: boolean;
}

/**
 * A whole simulated district on this machine: the NATS cluster, one bridge process, `devices` light
 * gateways enrolled over HTTP and spread over the nodes, tapping at `rate` for `seconds`, with an
 * optional outage for part of them; then waits for every event to be acknowledged.
 */
export async function runDistrict(options: DistrictRunOptions): Promise<DistrictRunResult> {
  const say = options.progress ?? (() => undefined);
  const dir = await mkdtemp(join(tmpdir(), 'fleet-sim-'));
  const district = await startDistrict(dir, { nodes: options.nodes });
  let fleet: Fleet | undefined;
  try {
    say(`cluster of ${options.nodes} NATS nodes and the bridge at ${district.bridge.http}`);
    let started = performance.now();
    fleet = await Fleet.enroll({
      bridgeHttp: district.bridge.http,
      adminToken: district.adminToken,
      brokerUrls: district.brokerUrls,
      devices: options.devices,
      ...(options.qos !== undefined ? { qos: options.qos } : {}),
    });
    const enrollS = (performance.now() - started) / 1000;
    say(`${options.devices} devices enrolled (each with its broker account) in ${enrollS.toFixed(1)} s`);
    started = performance.now();
    await fleet.connect();
    const connectS = (performance.now() - started) / 1000;
    say(
      `${fleet.stats().connected} connected in ${connectS.toFixed(1)} s; tapping ${options.rate}/s each for ${options.seconds} s`,
    );
    const live = fleet;
    const report = setInterval(() => {
      const s = live.stats();
      say(
        `connected ${s.connected}/${s.devices}, tapped ${s.tapped}, acked ${s.acked}, backlog ${s.backlog}, p99 ${s.p99Ms} ms`,
      );
    }, 5000);
    started = performance.now();
    try {
      fleet.startTapping(options.rate);
      const warmupS = options.warmupS ?? 0;
      if (warmupS > 0) {
        await new Promise((resolve) => setTimeout(resolve, warmupS * 1000));
        fleet.resetLatencies();
        say(`warm-up of ${warmupS} s over: latencies count from now`);
      }
      const third = (options.seconds * 1000) / 3;
      const dropped = fleet.devices.slice(0, Math.round(options.devices * options.outage));
      await new Promise((resolve) => setTimeout(resolve, third));
      if (dropped.length) {
        say(`${dropped.length} devices lose their link for ${(third / 1000).toFixed(0)} s`);
        await fleet.outage(dropped, third);
        say(`${dropped.length} devices back, with their backlogs`);
      } else {
        await new Promise((resolve) => setTimeout(resolve, third));
      }
      await new Promise((resolve) => setTimeout(resolve, third));
      fleet.stopTapping();
      const drained = await fleet.drained(120_000).then(
        () => true,
        (error: Error) => {
          say(error.message);
          return false;
        },
      );
      const stats = fleet.stats();
      return {
        ...stats,
        enrollS,
        connectS,
        eventsPerS: stats.acked / ((performance.now() - started) / 1000),
        drained,
      };
    } finally {
      clearInterval(report);
    }
  } finally {
    await fleet?.stop();
    await district.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
