import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { BridgeLockdown } from './index.js';

const logger = createLogger('lockdown-test', { level: 'silent' });
let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockdown-'));
  path = join(dir, 'lockdown.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the bridge's lockdown on a gate", () => {
  it('takes a newer order only, keeps it on disk, and says when the lockdown came on or went off', async () => {
    const lockdown = await BridgeLockdown.open(path, logger);
    expect(lockdown.state).toEqual({ active: false, version: 0 });
    const on = new Date('2030-05-06T07:08:09.000Z');
    expect(await lockdown.apply({ active: true, version: 3, reason: 'intruder' }, on)).toEqual({
      active: false,
      version: 0,
    });
    expect(lockdown.state).toEqual({ active: true, version: 3, reason: 'intruder', since: on.toISOString() });
    // The same order again, or an older one (delayed, replayed), changes nothing.
    expect(await lockdown.apply({ active: false, version: 3 }, on)).toBeUndefined();
    expect(await lockdown.apply({ active: false, version: 2 }, on)).toBeUndefined();
    expect(lockdown.active).toBe(true);
    // A newer order that keeps it on keeps when it began.
    const later = new Date(on.getTime() + 60_000);
    expect(await lockdown.apply({ active: true, version: 4, reason: 'still' }, later)).toBeUndefined();
    expect(lockdown.state.since).toBe(on.toISOString());
    const reopened = await BridgeLockdown.open(path, logger);
    expect(reopened.state).toEqual({ active: true, version: 4, reason: 'still', since: on.toISOString() });
    expect(await reopened.apply({ active: false, version: 5 }, later)).toMatchObject({ active: true });
    expect((await BridgeLockdown.open(path, logger)).state).toEqual({ active: false, version: 5 });
  });

  it('a damaged file is quarantined and read as no lockdown, for the bridge to say again', async () => {
    await writeFile(path, '{"active": tru');
    const lockdown = await BridgeLockdown.open(path, logger);
    expect(lockdown.state).toEqual({ active: false, version: 0 });
    const [quarantined] = await readdir(join(dir, 'quarantine'));
    expect(await readFile(join(dir, 'quarantine', quarantined as string), 'utf8')).toBe('{"active": tru');
    expect(await lockdown.apply({ active: true, version: 1 }, new Date())).toBeDefined();
  });
});
