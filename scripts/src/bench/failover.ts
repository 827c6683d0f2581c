import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type District, startDistrict } from '../fleet-sim/index.js';
import { startPostgres, until } from '../support/index.js';
import { atMost, type BenchResult, info, median } from './report.js';

const RUNS = 3;
const TARGET_FAILOVER_S = 10;
/** The singleton duty timed: the central push, which every bridge has. */
const DUTY = 'central';
/** The bridges' lease life (their default): a killed holder's lease ends at most this long after its last renewal. */
const LEASE_TTL_MS = 6000;

/** When (ms since the epoch, the bridge's own clock) a bridge log line says `DUTY` started, if it does. */
function dutyStartedAt(line: string): number | undefined {
  try {
    const said = JSON.parse(line) as { msg?: string; duty?: string; time?: number };
    return said.msg === 'duty started' && said.duty === DUTY ? said.time : undefined;
  } catch {
    return undefined;
  }
}

const startedAt = (lines: string[]) =>
  lines.map(dutyStartedAt).filter((time): time is number => time !== undefined);

/** The index of the one running instance that serves `DUTY` (a restarted one has not taken it). */
function holderOf(district: District): number {
  const holders = district.bridges
    .map((bridge, index) => ({ index, serving: startedAt(bridge.lines).length > 0 }))
    .filter(({ index, serving }) => serving && district.bridges[index]?.child.exitCode === null);
  if (holders.length !== 1) throw new Error(`${holders.length} running instances say they serve ${DUTY}`);
  return (holders[0] as { index: number }).index;
}

/**
 * `scale.failover_s`: two `educard-bridge serve` processes on one PostgreSQL (and one NATS node: the
 * broker plays no part in a lease), the instance that serves the central push killed with SIGKILL (no
 * release: its lease must expire), and the time from the kill to the other's log line saying it
 * started that duty. Three runs, the killed instance started again between them, so each run kills
 * the one that took over in the run before; the median, with the longest beside it.
 */
export async function failoverBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-failover-'));
  const postgres = await startPostgres();
  try {
    const district = await startDistrict(dir, {
      nodes: 1,
      instances: 2,
      store: { url: postgres.createSchema('bench_failover') },
      config: { cluster: { leaseTtlMs: LEASE_TTL_MS } },
      keep: (line) => dutyStartedAt(line) !== undefined,
    });
    try {
      const failovers: number[] = [];
      for (let run = 1; run <= RUNS; run++) {
        await until(() => district.bridges.some((bridge) => startedAt(bridge.lines).length > 0), {
          what: `an instance serving ${DUTY}`,
          timeoutMs: 60_000,
          everyMs: 50,
        });
        // Past a renewal, as an instance that has served for a while.
        await new Promise((resolve) => setTimeout(resolve, LEASE_TTL_MS / 2));
        const victim = holderOf(district);
        const survivor = district.bridges[1 - victim];
        if (!survivor) throw new Error('no second instance');
        const killedAt = Date.now();
        await district.bridges[victim]?.kill();
        const tookAt = await until(() => startedAt(survivor.lines).find((time) => time > killedAt), {
          what: `the other instance serving ${DUTY}`,
          timeoutMs: 60_000,
          everyMs: 20,
        });
        failovers.push((tookAt - killedAt) / 1000);
        process.stderr.write(
          `[bench scale] bridge failover run ${run}: ${((tookAt - killedAt) / 1000).toFixed(2)} s (load average ${loadavg()[0]?.toFixed(1)})\n`,
        );
        await district.restart(victim);
      }
      return [
        atMost('scale.failover_s', median(failovers), 's', TARGET_FAILOVER_S),
        info('scale.failover_s.max', Math.max(...failovers), 's'),
      ];
    } finally {
      await district.stop();
    }
  } finally {
    await postgres.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
