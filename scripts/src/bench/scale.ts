import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet, runDistrict, startDistrict } from '../fleet-sim/index.js';
import { startPostgres } from '../support/index.js';
import { startBridge } from './bridge-process.js';
import { failoverBench } from './failover.js';
import { atLeast, atMost, type BenchResult, info, median } from './report.js';
import { storeBench } from './store.js';
import { ingestRate } from './uplink.js';

const TARGET_DEVICES = 5000;
const TARGET_INGEST_EVENTS_PER_S = 10_000;
const TARGET_P99_MS = 2000;
/** The births answered and the first batches: their events must be acknowledged, but p99 is of the steady run. */
const WARMUP_S = 10;
/**
 * The share of the taps meant (each device once a second, warm-up included) the simulator must have
 * made: on a saturated machine its timers fall behind, and a district tapping less than once a
 * second is not the load the figure names.
 */
const TARGET_TAPS_MADE = 0.95;

/** A whole number from the environment, or the default; a bad value stops the bench with its name. */
function fromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${name} must be a whole number above 0, not "${text}"`);
  return value;
}

/**
 * `scale.devices_connected`: a district of simulated gateways (enrolled over HTTP, each with its own
 * NATS account) spread over a three-node NATS cluster, one bridge on SQLite, every gateway tapping
 * once a second and publishing its batches at the QoS the bridge names at enrollment (0 on NATS),
 * after a warm-up of 10 s. The figure is the number of devices connected to the end of
 * the run; it counts only when every event (the warm-up's included) was acknowledged and the p99 from
 * tap to ack over the steady run (the ack follows the commit, so this bounds tap-to-stored from above)
 * is within 2 s, reported beside it, and when the simulator made at least 95 % of the taps meant
 * (`taps_made_share`: on a saturated machine it falls behind). SCALE_DEVICES (default 5,000)
 * and SCALE_SECONDS (default 60) size it to what a machine can carry.
 */
export async function scaleBench(): Promise<BenchResult[]> {
  // The store figures first: they need no cluster, and a failed district keeps them; the two-instance
  // ingest last, its failure a failed figure.
  const store = await storeBench();
  const failover = await failoverBench();
  const district = await districtBench();
  return [...store, ...failover, ...district, ...(await scaleIngestFigures())];
}

/** `scale.devices_connected` and what stands beside it (scaleBench's middle part). */
export async function districtBench(): Promise<BenchResult[]> {
  const devices = fromEnv('SCALE_DEVICES', TARGET_DEVICES);
  const seconds = fromEnv('SCALE_SECONDS', 60);
  const result = await runDistrict({
    devices,
    rate: 1,
    seconds,
    nodes: 3,
    outage: 0,
    warmupS: WARMUP_S,
    progress: (line) => process.stderr.write(`[bench scale] ${line}\n`),
  });
  const madeShare = result.tapped / (devices * (seconds + WARMUP_S));
  const kept =
    result.drained && result.p99Ms <= TARGET_P99_MS && madeShare >= TARGET_TAPS_MADE ? result.connected : 0;
  return [
    atLeast('scale.devices_connected', kept, 'devices', TARGET_DEVICES),
    atMost('scale.devices_connected.p99_tap_to_ack_ms', result.p99Ms, 'ms', TARGET_P99_MS),
    atLeast('scale.devices_connected.taps_made_share', madeShare, 'share', TARGET_TAPS_MADE),
    atMost('scale.devices_connected.unacknowledged', result.tapped - result.acked, 'events', 0),
    info('scale.devices_connected.simulated', result.devices, 'devices'),
    info('scale.devices_connected.events_per_s', result.eventsPerS, 'events/s'),
    info('scale.devices_connected.enroll_s', result.enrollS, 's'),
    info('scale.devices_connected.connect_s', result.connectS, 's'),
  ];
}

/** CPU seconds (user + system) of each process now, by pid, from /proc (Linux). */
function cpuByPid(): Map<number, { ppid: number; seconds: number }> {
  const ticks = 100;
  const all = new Map<number, { ppid: number; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      all.set(Number(entry), {
        ppid: Number(fields[1]),
        seconds: (Number(fields[11]) + Number(fields[12])) / ticks,
      });
    } catch {
      // The process ended while the list was read.
    }
  }
  return all;
}

/** CPU seconds of each named process and its descendants (PostgreSQL's backends are its children). */
function cpuOfTrees(roots: Record<string, number | undefined>): Record<string, number> {
  const all = cpuByPid();
  // The simulator is this process, and the others are its children: each tree stops at another root,
  // or the simulator's would count every part again.
  const named = new Set(Object.values(roots));
  const of = (pid: number): number => {
    let sum = all.get(pid)?.seconds ?? 0;
    for (const [child, { ppid }] of all) if (ppid === pid && !named.has(child)) sum += of(child);
    return sum;
  };
  return Object.fromEntries(
    Object.entries(roots).map(([name, pid]) => [name, pid === undefined ? 0 : of(pid)]),
  );
}

/**
 * `scale.ingest.events_per_s`: two bridge instances on one PostgreSQL, three NATS nodes, 1,000
 * simulated gateways (SCALE_INGEST_DEVICES) each holding a backlog of 100 journaled events
 * (SCALE_INGEST_EVENTS) and sending it at once, as after an outage; the rate from the send until every
 * event is acknowledged, the median of SCALE_INGEST_ROUNDS (5) such bursts in one district (0, a failed
 * figure, when one does not end). Beside it,
 * `scale.ingest.one_bridge_events_per_s`: the uplink group's one bridge (SQLite, the embedded broker)
 * measured in the same run, and the CPU seconds each part took during a burst, averaged (where the time goes).
 */
export async function scaleIngestFigures(): Promise<BenchResult[]> {
  try {
    return await scaleIngest();
  } catch (error) {
    process.stderr.write(`[bench scale] two-instance ingest failed: ${(error as Error).message}\n`);
    return [atLeast('scale.ingest.events_per_s', 0, 'events/s', TARGET_INGEST_EVENTS_PER_S)];
  }
}

async function scaleIngest(): Promise<BenchResult[]> {
  const say = (line: string) => process.stderr.write(`[bench scale] ${line}\n`);
  const dir = await mkdtemp(join(tmpdir(), 'bench-scale-ingest-'));
  try {
    const single = await startBridge(join(dir, 'single'));
    let singleRate: number;
    try {
      singleRate = await ingestRate(single, join(dir, 'single'));
    } finally {
      await single.stop();
    }
    say(`one bridge on SQLite, embedded broker: ${Math.round(singleRate)} events/s`);
    const devices = fromEnv('SCALE_INGEST_DEVICES', 1000);
    const perDevice = fromEnv('SCALE_INGEST_EVENTS', 100);
    const rounds = fromEnv('SCALE_INGEST_ROUNDS', 5);
    const postgres = await startPostgres();
    try {
      const district = await startDistrict(join(dir, 'district'), {
        instances: 2,
        store: { url: postgres.createSchema('scale') },
      });
      const fleet = await Fleet.enroll({
        bridgeHttp: district.bridge.http,
        adminToken: district.adminToken,
        brokerUrls: district.brokerUrls,
        devices,
        concurrency: 50,
        maxRecords: 200,
        ackTimeoutMs: 60_000,
      }).catch(async (error: unknown) => {
        await district.stop();
        throw error;
      });
      try {
        await fleet.connect();
        say(`${devices} gateways connected to 3 NATS nodes, 2 bridge instances on PostgreSQL`);
        const roots = {
          'bridge-1': district.bridges[0]?.child.pid,
          'bridge-2': district.bridges[1]?.child.pid,
          postgres: postgres.pid,
          ...Object.fromEntries(district.cluster.nodes.map((node) => [node.name, node.pid])),
          simulator: process.pid,
        };
        // The backlog of an outage: journaled before the clock starts, as a real district's gateways
        // journal on their own hardware. Tapping inside the window put the simulator's hashing on the
        // two cores the broker and the bridges share.
        const rates: number[] = [];
        const cpuSeconds: Record<string, number> = {};
        for (let round = 1; round <= rounds; round += 1) {
          for (const device of fleet.devices) device.journalTaps(perDevice);
          const before = cpuOfTrees(roots);
          const started = performance.now();
          for (const device of fleet.devices) device.send();
          await fleet.drained(600_000);
          const seconds = (performance.now() - started) / 1000;
          const after = cpuOfTrees(roots);
          rates.push((devices * perDevice) / seconds);
          const used = Object.entries(after).map(
            ([name, total]) => [name, total - (before[name] ?? 0)] as const,
          );
          for (const [name, spent] of used) cpuSeconds[name] = (cpuSeconds[name] ?? 0) + spent / rounds;
          say(
            `round ${round}: ${devices * perDevice} events in ${seconds.toFixed(1)} s: ${Math.round(rates.at(-1) as number)} events/s; CPU seconds ${used
              .map(([name, spent]) => `${name} ${spent.toFixed(1)}`)
              .join(', ')}`,
          );
        }
        return [
          // The uplink group's figure, measured again in this run to stand beside it (its own id, so
          // a run of every group does not hold one id twice).
          info('scale.ingest.one_bridge_events_per_s', singleRate, 'events/s'),
          atLeast('scale.ingest.events_per_s', median(rates), 'events/s', TARGET_INGEST_EVENTS_PER_S),
          info('scale.ingest.events_per_s.slowest_round', Math.min(...rates), 'events/s'),
          info('scale.ingest.resends', fleet.stats().resends, 'resends'),
          ...Object.entries(cpuSeconds).map(([name, spent]) =>
            info(`scale.ingest.cpu_s.${name}`, spent, 's'),
          ),
        ];
      } finally {
        await fleet.stop();
        await district.stop();
      }
    } finally {
      await postgres.stop();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
