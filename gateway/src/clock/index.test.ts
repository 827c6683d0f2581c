import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { TrustedClock } from './index.js';

let dir: string;
const logger = createLogger('clock-test', { level: 'silent' });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'clock-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('time floor', () => {
  it('trusts a clock that moves forward and persists the floor', async () => {
    let now = Date.parse('2026-11-23T08:00:00Z');
    const clock = await TrustedClock.open({ dataDir: dir, logger, now: () => now, synced: () => true });
    expect(clock.read()).toEqual({ now, trusted: true });
    now += 5_000;
    clock.read();
    await clock.persist();
    const stored = JSON.parse(await readFile(join(dir, 'clock.json'), 'utf8'));
    expect(stored.timeFloor).toBe(now);
  });

  it('never believes the clock went back before a time already seen, across a restart', async () => {
    let now = Date.parse('2026-11-23T08:00:00Z');
    const first = await TrustedClock.open({ dataDir: dir, logger, now: () => now });
    first.read();
    await first.persist();
    now = Date.parse('1970-01-01T00:00:10Z');
    const rebooted = await TrustedClock.open({ dataDir: dir, logger, now: () => now });
    expect(rebooted.read().trusted).toBe(false);
    expect(rebooted.floor).toBe(Date.parse('2026-11-23T08:00:00Z'));
    now = Date.parse('2026-11-23T08:01:00Z');
    expect(rebooted.read().trusted).toBe(true);
  });

  it('writes the floor on its own once it has run ahead by the interval', async () => {
    let now = 1_000_000;
    const clock = await TrustedClock.open({ dataDir: dir, logger, now: () => now, persistEveryMs: 1000 });
    now += 2000;
    clock.read();
    await clock.persist();
    const reopened = await TrustedClock.open({ dataDir: dir, logger, now: () => 0 });
    expect(reopened.floor).toBe(now);
  });

  it('reports whether NTP has synchronised the clock', async () => {
    const clock = await TrustedClock.open({ dataDir: dir, logger, synced: () => false });
    expect(clock.synced()).toBe(false);
  });

  it('keeps a damaged clock.json aside and takes the floor back from a time the device has seen', async () => {
    const seen = Date.parse('2026-11-23T08:00:00Z');
    await writeFile(join(dir, 'clock.json'), '{"timeFloor": 17');
    let now = Date.parse('1970-01-01T00:00:10Z');
    const clock = await TrustedClock.open({ dataDir: dir, logger, now: () => now });
    expect(clock.damaged).toMatch(/^not JSON/);
    expect(await readdir(join(dir, 'quarantine'))).toEqual([
      expect.stringMatching(/^clock\.json\.\d{8}T\d{6}Z$/),
      expect.stringMatching(/\.why\.json$/),
    ]);
    await clock.restoreFloor(seen);
    expect(clock.read().trusted).toBe(false);
    expect(JSON.parse(await readFile(join(dir, 'clock.json'), 'utf8')).timeFloor).toBe(seen);
    now = seen + 1000;
    expect(clock.read().trusted).toBe(true);
  });
});
