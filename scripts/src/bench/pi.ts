import { execFile } from 'node:child_process';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
import { type BenchResult, info } from './report.js';

const run = promisify(execFile);

/** A Raspberry Pi 4 core as a stand-in: a quarter of one core of this machine, and 512 MB. */
const CPU_QUOTA_US = 25_000;
const CPU_PERIOD_US = 100_000;
const MEMORY_BYTES = 512 * 1024 * 1024;
const CGROUP_ROOT = '/sys/fs/cgroup';

interface Group {
  cpu: string;
  memory: string;
}

/** A cgroup v1 pair (cpu, memory) with the budget set, or the reason it could not be made. */
async function makeGroup(name: string): Promise<Group | { problem: string }> {
  const group = { cpu: join(CGROUP_ROOT, 'cpu', name), memory: join(CGROUP_ROOT, 'memory', name) };
  try {
    await mkdir(group.cpu);
    await mkdir(group.memory);
    await writeFile(join(group.cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    await writeFile(join(group.cpu, 'cpu.cfs_quota_us'), String(CPU_QUOTA_US));
    await writeFile(join(group.memory, 'memory.limit_in_bytes'), String(MEMORY_BYTES));
    return group;
  } catch (error) {
    await removeGroup(group);
    return { problem: (error as Error).message };
  }
}

/** Removes the groups once their tasks have gone (the kernel refuses while any is left). */
async function removeGroup(group: Group): Promise<void> {
  for (const dir of [group.cpu, group.memory])
    for (let attempt = 0; attempt < 50; attempt++) {
      const gone = await rmdir(dir).then(
        () => true,
        (error: NodeJS.ErrnoException) => error.code === 'ENOENT',
      );
      if (gone) break;
      await sleep(100);
    }
}

/**
 * The gateway group inside a cgroup limiting it, and the roster-load processes it starts, to 25 % of
 * one core and 512 MB (`npm run bench -- gateway --pi`); ids end `.pi`. Where the cgroup cannot be
 * made (no cgroup v1, not root) it says so and runs unlimited, `gateway.pi.limited` 0.
 */
export async function gatewayPiBench(): Promise<BenchResult[]> {
  const child = join(import.meta.dirname, 'gateway-pi-child.js');
  const group = await makeGroup(`educard-bench-${process.pid}`);
  const limited = !('problem' in group);
  if (!limited)
    process.stderr.write(
      `bench --pi: no cgroup (${group.problem}); the gateway group runs WITHOUT the Pi budget\n`,
    );
  try {
    const command = limited
      ? [
          'sh',
          [
            '-c',
            `echo $$ > ${group.cpu}/tasks && echo $$ > ${group.memory}/tasks && exec "$@"`,
            'sh',
            process.execPath,
            ...GATEWAY_NODE_FLAGS,
            child,
          ],
        ]
      : [process.execPath, [...GATEWAY_NODE_FLAGS, child]];
    const { stdout } = await run(command[0] as string, command[1] as string[], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const results = JSON.parse(stdout.trim().split('\n').at(-1) as string) as BenchResult[];
    const peak = limited
      ? Number(await readFile(join(group.memory, 'memory.max_usage_in_bytes'), 'utf8')) / 1024 / 1024
      : undefined;
    return [
      ...results,
      info('gateway.pi.limited', limited ? 1 : 0, 'bool'),
      ...(peak === undefined ? [] : [info('gateway.pi.peak_memory_mb', peak, 'MB')]),
    ];
  } finally {
    if (limited) await removeGroup(group);
  }
}
