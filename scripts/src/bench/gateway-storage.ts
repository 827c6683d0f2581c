import { spawn } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { GATEWAY_NODE_FLAGS, Journal } from '@educard/gateway';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { REPO_ROOT } from '../paths.js';
import { fillDisk, mountTmpfs } from '../support/index.js';
import { benchGate, tapBody } from './gate-fixture.js';
import { atMost, type BenchResult, exactly, info, median, percentile } from './report.js';
import { DEVICE, quiet, rosterOnDisk, SCHOOL } from './roster-fixture.js';

const RECORDS = 100_000;
const START_RUNS = 5;
const FULL_DISK_TAPS = 20_000;

/** The gateway surviving its own storage: a start over a damaged journal, and taps with the disk full. */
export async function storageBench(): Promise<BenchResult[]> {
  const { dir: rosterDir } = await rosterOnDisk(2);
  try {
    return [...(await damagedStart(rosterDir)), ...(await fullDiskDecisions(rosterDir))];
  } finally {
    await rm(rosterDir, { recursive: true, force: true });
  }
}

/**
 * A cold start of the gateway process, as the service starts, over a journal of 100,000 records
 * none of which the bridge has acknowledged, damaged at rest: a flipped byte in an old segment, one in
 * the newest with records after it, a segment missing. Timed from the spawn to the first decision
 * logged (Node's own start included), on a fresh copy each run: the first recovery repairs it.
 */
async function damagedStart(rosterDir: string): Promise<BenchResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'bench-recovery-'));
  try {
    const pristine = join(work, 'pristine');
    const journal = await Journal.open({ dir: join(pristine, 'journal'), device: DEVICE, logger: quiet });
    for (let i = 0; i < RECORDS; i++) {
      journal.append(tapBody(i));
      if (i % 1000 === 999) await yieldToLoop();
    }
    await journal.close();
    await cp(rosterDir, join(pristine, 'roster'), { recursive: true });
    const samples: number[] = [];
    const inGateway: number[] = [];
    let segments = 0;
    for (let run = 0; run < START_RUNS; run++) {
      const dataDir = join(work, `run-${run}`);
      await cp(pristine, dataDir, { recursive: true });
      segments = await damage(join(dataDir, 'journal'));
      const config = join(work, `run-${run}.json`);
      await writeFile(
        config,
        JSON.stringify({
          device: { id: DEVICE, school: SCHOOL },
          dataDir,
          station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
          readers: { simulated: ['sim-in'], script: '-' },
          journal: { minFreeBytes: 0 },
          log: { level: 'info' },
        }),
      );
      const timed = await firstDecisionMs(config);
      samples.push(timed.spawnMs);
      inGateway.push(timed.startMs);
      await rm(dataDir, { recursive: true, force: true });
    }
    return [
      atMost('gateway.recovery.damaged_start_ms', median(samples), 'ms', 2000),
      info('gateway.recovery.damaged_start_max_ms', Math.max(...samples), 'ms'),
      info('gateway.recovery.damaged_start_after_load_ms', median(inGateway), 'ms'),
      info('gateway.recovery.damaged_segments', segments, 'segments'),
    ];
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Damage at rest: a byte flipped in an old segment and in the newest, and a segment gone. */
async function damage(dir: string): Promise<number> {
  const names = (await readdir(dir)).filter((n) => /^seg-\d{12}\.log$/.test(n)).sort();
  if (names.length < 6)
    throw new Error(`the bench journal has ${names.length} segments, not enough to damage`);
  const flip = async (name: string, at: number) => {
    const bytes = await readFile(join(dir, name));
    const offset = Math.floor(bytes.length * at);
    bytes[offset] = (bytes[offset] as number) ^ 0x01;
    await writeFile(join(dir, name), bytes);
  };
  await flip(names[1] as string, 0.5);
  await flip(names.at(-1) as string, 0.3);
  await rm(join(dir, names[3] as string));
  return names.length;
}

/**
 * Spawns the gateway, taps a card at once, and times the first decision it logs: from the spawn, and
 * from its first log line (once Node has loaded it: the gateway's own start, recovery included).
 */
async function firstDecisionMs(config: string): Promise<{ spawnMs: number; startMs: number }> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [...GATEWAY_NODE_FLAGS, join(REPO_ROOT, 'gateway/dist/main.js'), '--config', config],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  child.stdin.write(
    `${JSON.stringify({ action: 'present', reader: 'sim-in', card: { uid: sampleUid(0) } })}\n`,
  );
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the gateway made no decision within 60 s')), 60_000);
      child.once('exit', (code) => reject(new Error(`the gateway exited (${code}) before a decision`)));
      let firstAt: number | undefined;
      createInterface({ input: child.stdout }).on('line', (line) => {
        const { msg, time } = JSON.parse(line) as { msg: string; time: number };
        firstAt ??= time;
        if (msg !== 'tap') return;
        clearTimeout(timer);
        resolve({ spawnMs: performance.now() - started, startMs: time - firstAt });
      });
    });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * Taps decided with the disk full: the journal on a tmpfs filled to the last byte (mounted here, as
 * root), the gate's real station deciding 20,000 taps while every write fails. Each must be decided.
 */
async function fullDiskDecisions(rosterDir: string): Promise<BenchResult[]> {
  const work = await mkdtemp(join(tmpdir(), 'bench-diskfull-'));
  const mounted = await mountTmpfs(work, 1024 * 1024).catch(async (error: Error) => {
    await rm(work, { recursive: true, force: true });
    throw error;
  });
  const disk = mounted.path;
  try {
    const journal = await Journal.open({
      dir: join(disk, 'journal'),
      device: DEVICE,
      logger: quiet,
      minFreeBytes: 0,
      closeTimeoutMs: 500,
    });
    await fillDisk(disk);
    const { station, actuators } = await benchGate(rosterDir, journal);
    let decided = 0;
    const latencies: number[] = [];
    for (let i = 0; i < FULL_DISK_TAPS; i++) {
      const started = performance.now();
      const outcome = station.tap(
        { reader: 'r-in', uid: sampleUid(i % 4), detectedAt: started },
        { name: 'r-in', direction: 'in' },
      );
      if (outcome) {
        decided += 1;
        latencies.push(outcome.actedAt - started);
      }
      if (i % 20 === 0) await yieldToLoop();
    }
    const { held, lost, diskFull } = journal.stats();
    if (!diskFull) throw new Error('the disk took the journal’s writes: the benchmark did not fill it');
    await journal.close();
    await actuators.stop();
    return [
      exactly('gateway.diskfull.decisions_ratio', decided / FULL_DISK_TAPS, 'ratio', 1),
      info('gateway.diskfull.decision_p99_ms', percentile(latencies, 99), 'ms'),
      info('gateway.diskfull.held', held, 'records'),
      info('gateway.diskfull.lost', lost, 'records'),
    ];
  } finally {
    await mounted.unmount();
    await rm(work, { recursive: true, force: true });
  }
}
