import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@educard/scripts/support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GpioError } from './binding.js';
import { watchWithGpiomon } from './gpiomon.js';

// The gpiomon of Debian's gpiod package needs a GPIO chip, and this machine has none: a script in
// its place prints what gpiomon prints, so the process handling (arguments, parsing, an exit with its
// reason) is tested as it runs.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gpiomon-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fakeGpiomon(body: string): Promise<string> {
  const path = join(dir, 'gpiomon');
  await writeFile(path, `#!/bin/sh\necho "$@" > ${join(dir, 'args')}\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

const options = { consumer: 'educard-gateway', activeLow: true, bias: 'pull-up' as const };

describe('watching a line with gpiomon', () => {
  it('asks for both edges, line-buffered, with bias and active-low, and reports each level', async () => {
    const tool = await fakeGpiomon('printf "1\\n0\\n"; sleep 0.05; printf "1\\n"; exec sleep 30');
    const edges: number[] = [];
    const failures: Error[] = [];
    const watch = watchWithGpiomon(tool, { chip: 'gpiochip0', offset: 24 }, options, {
      edge: (value) => edges.push(value),
      failed: (error) => failures.push(error),
    });
    await until(() => edges.length === 3, { what: 'three edges' });
    watch.release();
    expect(edges).toEqual([1, 0, 1]);
    expect(await readFile(join(dir, 'args'), 'utf8')).toBe(
      '--line-buffered --format=%e --bias=pull-up --active-low gpiochip0 24\n',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(failures).toEqual([]);
  });

  it('an exit is reported once, with the reason gpiomon gave', async () => {
    const tool = await fakeGpiomon(
      'echo "gpiomon: error waiting for events: Device or resource busy" >&2; exit 1',
    );
    const failures: GpioError[] = [];
    watchWithGpiomon(tool, { chip: 'gpiochip0', offset: 24 }, options, {
      edge: () => undefined,
      failed: (error) => failures.push(error as GpioError),
    });
    await until(() => failures.length > 0, { what: 'the failure' });
    expect(failures).toHaveLength(1);
    expect(failures[0]?.code).toBe('busy');
    expect(failures[0]?.message).toBe(
      'gpiomon on gpiochip0:24 exited (code 1): gpiomon: error waiting for events: Device or resource busy',
    );
  });

  it('a tool that cannot run is reported as such', async () => {
    const failures: Error[] = [];
    watchWithGpiomon(join(dir, 'missing'), { chip: 'gpiochip0', offset: 1 }, options, {
      edge: () => undefined,
      failed: (error) => failures.push(error),
    });
    await until(() => failures.length > 0, { what: 'the failure' });
    expect(failures[0]?.message).toMatch(/gpiomon on gpiochip0:1 could not run \(spawn .* ENOENT\)/);
  });
});
