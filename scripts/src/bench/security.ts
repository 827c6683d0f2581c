import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createLogger, Gateway } from '@educard/gateway';
import { exited } from '../support/index.js';
import { type RunningBridge, startBridge } from './bridge-process.js';
import { atLeast, type BenchResult, info, median } from './report.js';
import { drained, prepareGateway } from './uplink.js';

const quiet = createLogger('bench', { level: 'silent' });
const ROUNDS = 3;
const GATEWAYS = 5;
const EVENTS = 10_000;
/** The flood: sign-ins a second, each a new user name with a wrong password, from this many addresses. */
const FLOOD_RATE = 500;
const FLOOD_ADDRESSES = 200;

const rssMb = async (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

/** What `run` gives, and the highest RSS of process `pid` while it ran (read every 50 ms). */
async function withPeakRss<T>(pid: number, run: () => Promise<T>): Promise<{ value: T; peakMb: number }> {
  let peakMb = await rssMb(pid);
  const sampler = setInterval(() => {
    rssMb(pid).then(
      (mb) => {
        peakMb = Math.max(peakMb, mb);
      },
      () => undefined,
    );
  }, 50);
  try {
    return { value: await run(), peakMb };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * Events a second that `GATEWAYS` gateways with `EVENTS` each get stored and acknowledged; `during`
 * starts (and ends) what runs meanwhile, once the gateways are enrolled and their journals written.
 */
async function ingestRound(
  bridge: RunningBridge,
  dir: string,
  name: string,
  during?: () => Promise<() => Promise<void>>,
): Promise<number> {
  const configs = [];
  for (let i = 0; i < GATEWAYS; i++) configs.push(await prepareGateway(bridge, dir, `${name}-${i}`, EVENTS));
  const end = await during?.();
  const started = performance.now();
  const gateways = await Promise.all(configs.map((config) => Gateway.start({ config, logger: quiet })));
  await drained(gateways, 300_000);
  const rate = (GATEWAYS * EVENTS) / ((performance.now() - started) / 1000);
  await end?.();
  await Promise.all(gateways.map((gateway) => gateway.stop()));
  for (const config of configs) await rm(config.dataDir, { recursive: true, force: true });
  return rate;
}

interface FloodReport {
  sent: number;
  answers: Record<string, number>;
  seconds: number;
}

/**
 * The flood as a child process (scripts/dist/bench/signin-flood-child.js), at the lowest priority: its
 * own CPU, which a real attacker spends on their own machine, should weigh as little as it can on this
 * one. `stop` ends it and reports.
 */
function startFlood(http: string): { stop(): Promise<FloodReport> } {
  const started = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [join(import.meta.dirname, 'signin-flood-child.js'), http, String(FLOOD_RATE), String(FLOOD_ADDRESSES)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  setPriority(child.pid as number, 19);
  const report = new Promise<FloodReport>((resolve) =>
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve({ ...JSON.parse(line), seconds: (performance.now() - started) / 1000 }),
    ),
  );
  return {
    async stop() {
      child.kill('SIGTERM');
      const result = await report;
      await exited(child);
      return result;
    },
  };
}

/**
 * Ingest with and without a sign-in flood at the same bridge, alternating rounds so that the machine's
 * drift falls on both; the ratio of their medians. The same again with the sign-in bounds lifted
 * (every password checked at once, no queue limit, no address lock-out), for comparison.
 */
async function floodRatio(
  dir: string,
  accounts: Record<string, number>,
  rounds: number,
): Promise<{ ratio: number; checkedPerS: number; busyShare: number; rssOverIdleMb: number }> {
  const bridge = await startBridge(dir, { config: { accounts } });
  try {
    const idle: number[] = [];
    const flooded: number[] = [];
    const reports: FloodReport[] = [];
    const peaks = { idle: 0, flooded: 0 };
    const pid = bridge.child.pid as number;
    const flooding = async () => {
      const flood = startFlood(bridge.http);
      // The flood at full pace before the gateways start.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return async () => {
        reports.push(await flood.stop());
      };
    };
    for (let round = 0; round < rounds; round++) {
      const quiet = await withPeakRss(pid, () => ingestRound(bridge, dir, `idle-${round}`));
      idle.push(quiet.value);
      peaks.idle = Math.max(peaks.idle, quiet.peakMb);
      const loud = await withPeakRss(pid, () => ingestRound(bridge, dir, `flood-${round}`, flooding));
      flooded.push(loud.value);
      peaks.flooded = Math.max(peaks.flooded, loud.peakMb);
    }
    const seconds = reports.reduce((sum, r) => sum + r.seconds, 0);
    const answered = (status: string) => reports.reduce((sum, r) => sum + (r.answers[status] ?? 0), 0);
    const all = reports.reduce((sum, r) => sum + Object.values(r.answers).reduce((a, b) => a + b, 0), 0);
    return {
      ratio: median(flooded) / median(idle),
      checkedPerS: answered('401') / seconds,
      busyShare: all ? answered('503') / all : 0,
      rssOverIdleMb: peaks.flooded - peaks.idle,
    };
  } finally {
    await bridge.stop();
  }
}

export async function securityBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-security-'));
  try {
    const bounded = await floodRatio(join(dir, 'bounded'), {}, ROUNDS);
    const unbounded = await floodRatio(
      join(dir, 'unbounded'),
      {
        concurrentPasswordChecks: 64,
        passwordChecksPerSecond: 1000,
        queuedPasswordChecks: 1000,
        addressAttempts: 10_000,
      },
      2,
    );
    return [
      atLeast('bridge.signin_flood.ingest_ratio', bounded.ratio, 'x', 0.8),
      info('bridge.signin_flood.checked_per_s', bounded.checkedPerS, 'sign-ins/s'),
      info('bridge.signin_flood.busy_share', bounded.busyShare, 'of answers'),
      info('bridge.signin_flood.rss_over_idle_mb', bounded.rssOverIdleMb, 'MB'),
      info('bridge.signin_flood.unbounded_ingest_ratio', unbounded.ratio, 'x'),
      info('bridge.signin_flood.unbounded_rss_over_idle_mb', unbounded.rssOverIdleMb, 'MB'),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
