import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  // A read that runs the floor ahead starts a write of its own: retried rather than raced.
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
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
    // That read ran the floor ahead and started its write: settled as a shutdown would, before the
    // directory goes (a write still under way made its removal fail in a full run).
    await rebooted.persist();
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

describe('a real-time clock', () => {
  const NOW = Date.parse('2026-11-23T08:00:00Z');
  let rtc: string;

  /** An RTC's sysfs directory, as the kernel shows /dev/rtc0's. */
  async function fitRtc(epochMs: number, hctosys = '1') {
    rtc = join(dir, 'rtc0');
    await mkdir(rtc, { recursive: true });
    await writeFile(join(rtc, 'since_epoch'), `${Math.floor(epochMs / 1000)}\n`);
    await writeFile(join(rtc, 'hctosys'), `${hctosys}\n`);
  }
  const open = (synced = false, now = NOW) =>
    TrustedClock.open({ dataDir: dir, logger, now: () => now, synced: () => synced, rtc });

  it('with a valid time, trusts events before NTP answers and marks them as set by the RTC', async () => {
    await fitRtc(NOW - 1500);
    const clock = await open();
    expect(clock.rtc()).toEqual({
      path: rtc,
      present: true,
      valid: true,
      time: new Date(Math.floor((NOW - 1500) / 1000) * 1000).toISOString(),
      setSystemClock: true,
    });
    expect(clock.source()).toBe('rtc');
    expect(clock.stamp(clock.read())).toEqual({ clock: 'synced', clockSource: 'rtc' });
  });

  it('once NTP answers, events are synced by it', async () => {
    await fitRtc(NOW);
    const clock = await open(true);
    expect(clock.source()).toBe('ntp');
    expect(clock.stamp(clock.read())).toEqual({ clock: 'synced' });
  });

  it('is not believed when it lost its time, went back before the floor, or disagrees with the system clock', async () => {
    await fitRtc(Date.parse('1970-01-01T00:00:42Z'), '0');
    expect((await open()).rtc()).toMatchObject({ valid: false, reason: /before this firmware was made/ });
    expect((await open()).stamp({ trusted: true })).toEqual({ clock: 'unsynced' });

    const seen = await open(false, NOW + 3600_000);
    seen.read();
    await seen.persist();
    await fitRtc(NOW);
    expect((await open()).rtc()).toMatchObject({
      valid: false,
      reason: /before one this device has already seen/,
    });

    await rm(join(dir, 'clock.json'));
    await fitRtc(NOW - 600_000);
    expect((await open()).rtc()).toMatchObject({ valid: false, reason: 'the system clock is 600 s from it' });
  });

  it('one that gives no time (its driver refuses) is present but not valid; none at all is absent', async () => {
    rtc = join(dir, 'rtc0');
    await mkdir(join(rtc, 'since_epoch'), { recursive: true });
    expect((await open()).rtc()).toMatchObject({
      present: true,
      valid: false,
      reason: /gives no time \(EISDIR\)/,
    });
    rtc = join(dir, 'rtc9');
    expect((await open()).rtc()).toEqual({
      path: rtc,
      present: false,
      valid: false,
      reason: 'no real-time clock',
    });
    const none = await TrustedClock.open({
      dataDir: dir,
      logger,
      now: () => NOW,
      synced: () => false,
      rtc: false,
    });
    expect(none.rtc()).toBeUndefined();
    expect(none.stamp(none.read())).toEqual({ clock: 'unsynced' });
  });

  it('does not vouch for a reading before the time floor', async () => {
    await fitRtc(NOW);
    const clock = await open();
    expect(clock.stamp({ trusted: false })).toEqual({ clock: 'unsynced' });
  });
});
