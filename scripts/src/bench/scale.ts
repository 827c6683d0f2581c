import { runDistrict } from '../fleet-sim/index.js';
import { atLeast, atMost, type BenchResult, info } from './report.js';
import { storeBench } from './store.js';

const TARGET_DEVICES = 5000;
const TARGET_P99_MS = 2000;
/** The births answered and the first batches: their events must be acknowledged, but p99 is of the steady run. */
const WARMUP_S = 10;

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
 * once a second, after a warm-up of 10 s. The figure is the number of devices connected to the end of
 * the run; it counts only when every event (the warm-up's included) was acknowledged and the p99 from
 * tap to ack over the steady run (the ack follows the commit, so this bounds tap-to-stored from above)
 * is within 2 s, reported beside it. SCALE_DEVICES (default 5,000)
 * and SCALE_SECONDS (default 60) size it to what a machine can carry.
 */
export async function scaleBench(): Promise<BenchResult[]> {
  // The store and lease figures first: they need no cluster, and a failed district keeps them.
  const store = await storeBench();
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
  const kept = result.drained && result.p99Ms <= TARGET_P99_MS ? result.connected : 0;
  return [
    ...store,
    atLeast('scale.devices_connected', kept, 'devices', TARGET_DEVICES),
    atMost('scale.devices_connected.p99_tap_to_ack_ms', result.p99Ms, 'ms', TARGET_P99_MS),
    atMost('scale.devices_connected.unacknowledged', result.tapped - result.acked, 'events', 0),
    info('scale.devices_connected.simulated', result.devices, 'devices'),
    info('scale.devices_connected.events_per_s', result.eventsPerS, 'events/s'),
    info('scale.devices_connected.enroll_s', result.enrollS, 's'),
    info('scale.devices_connected.connect_s', result.connectS, 's'),
  ];
}
