import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { openTestStore } from '@educard/cloud-bridge/test-store';
import { until } from '@educard/scripts/support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admin, startBridge } from '../support/bridge.js';
import {
  CentralTestServer,
  centralConfig,
  centralStatus,
  chainedRecords,
  deviceSender,
} from '../support/central-server.js';

let dir: string;
let bridge: Bridge | undefined;
let central: CentralTestServer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'central-push-'));
  central = await CentralTestServer.start();
});
afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await central.stop();
  await rm(dir, { recursive: true, force: true });
});

const DEVICES = ['gate-01', 'gate-02', 'gate-03'];
const PER_DEVICE = 240;

/** An hour of taps: each device's events spread evenly over the hour before now. */
function anHourOf(device: string, now: number) {
  const times = Array.from({ length: PER_DEVICE }, (_, i) =>
    new Date(now - 3_600_000 + (i * 3_600_000) / PER_DEVICE).toISOString(),
  );
  return chainedRecords(device, times);
}

describe('events pushed to the central system', () => {
  it('holds an hour of events while the central system is down, shows the lag, then delivers each once and in order', async () => {
    await central.down();
    bridge = await startBridge(join(dir, 'bridge'), { central: centralConfig(central) });
    const now = Date.now();
    const senders = await Promise.all(DEVICES.map((d) => deviceSender(bridge as Bridge, dir, d)));
    // The devices' batches interleave, as several gates' uplinks would.
    const runs = DEVICES.map((d) => anHourOf(d, now));
    for (let i = 0; i < PER_DEVICE; i += 40)
      for (const [n, sender] of senders.entries()) await sender.send((runs[n] ?? []).slice(i, i + 40), 40);
    await until(() => (bridge as Bridge).store.countEvents() === DEVICES.length * PER_DEVICE);

    const down = await centralStatus(bridge.httpUrl);
    expect(down.mode).toBe('api');
    expect(down.push?.pending).toBe(DEVICES.length * PER_DEVICE);
    // The oldest event waiting is an hour old: that is how far behind the central system is.
    expect(down.push?.lagSeconds).toBeGreaterThanOrEqual(3590);
    expect(down.push?.lagSeconds).toBeLessThan(3700);
    expect(down.push?.lastError).toMatch(/ECONNREFUSED|fetch failed/);
    expect(down.push?.devices.map((d) => [d.device, d.pending])).toEqual(DEVICES.map((d) => [d, PER_DEVICE]));
    expect(central.events).toHaveLength(0);

    await central.up();
    await until(async () => (await centralStatus((bridge as Bridge).httpUrl)).push?.pending === 0);
    const drained = await centralStatus(bridge.httpUrl);
    expect(drained.push).toMatchObject({ pending: 0, lagSeconds: 0, deadLetters: 0, devices: [] });
    expect(drained.push?.delivered).toBe(DEVICES.length * PER_DEVICE);
    expect(central.events).toHaveLength(DEVICES.length * PER_DEVICE);
    for (const device of DEVICES)
      expect(central.deviceEvents(device).map((e) => e.seq)).toEqual(
        Array.from({ length: PER_DEVICE }, (_, i) => i + 1),
      );
    for (const sender of senders) await sender.close();
  });

  it('loses nothing and doubles nothing when the bridge restarts in the middle of a push', async () => {
    const config = centralConfig(central, { timeoutMs: 10_000 });
    bridge = await startBridge(join(dir, 'bridge'), { central: config });
    // The central system stores the first batch but never answers: the bridge stops while waiting.
    central.stallNext(1);
    const sender = await deviceSender(bridge, dir, 'gate-01');
    await sender.send(
      chainedRecords(
        'gate-01',
        Array.from({ length: 50 }, () => new Date().toISOString()),
      ),
      50,
    );
    await until(() => central.events.length > 0);
    await sender.close();
    await bridge.stop();
    bridge = undefined;
    expect(centralStatusOffline(join(dir, 'bridge')).pending).toBe(50);

    bridge = await startBridge(join(dir, 'bridge'), { central: config });
    await until(async () => (await centralStatus((bridge as Bridge).httpUrl)).push?.pending === 0);
    expect(central.deviceEvents('gate-01').map((e) => e.seq)).toEqual(
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    // Sent twice, stored once: the central system dedupes by (device, seq).
    expect(central.duplicates).toBe(50);
    expect((await centralStatus(bridge.httpUrl)).push?.delivered).toBe(50);
  });

  it('raises the dead-letter alarm for an event refused too often, and a retried dead letter goes through', async () => {
    bridge = await startBridge(join(dir, 'bridge'), { central: centralConfig(central) });
    central.refuse('gate-01', 3, 'unknown person');
    const sender = await deviceSender(bridge, dir, 'gate-01');
    await sender.send(
      chainedRecords(
        'gate-01',
        Array.from({ length: 6 }, () => new Date().toISOString()),
      ),
    );
    await until(async () => (await centralStatus((bridge as Bridge).httpUrl)).push?.deadLetters === 1);
    await until(async () => (await centralStatus((bridge as Bridge).httpUrl)).push?.pending === 0);
    // Held back while refused, the device's later events went out after it was set aside.
    expect(central.deviceEvents('gate-01').map((e) => e.seq)).toEqual([1, 2, 4, 5, 6]);
    const response = await fetch(`${bridge.httpUrl}/v1/central/dead-letters`, {
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    const { deadLetters } = (await response.json()) as {
      deadLetters: { id: number; device: string; seq: number; attempts: number; reason: string }[];
    };
    expect(deadLetters).toMatchObject([{ device: 'gate-01', seq: 3, attempts: 3, reason: 'unknown person' }]);

    central.accept('gate-01', 3);
    const retry = await fetch(`${bridge.httpUrl}/v1/central/dead-letters/${deadLetters[0]?.id}/retry`, {
      method: 'POST',
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(retry.status).toBe(200);
    await until(() => central.deviceEvents('gate-01').length === 6);
    expect(central.deviceEvents('gate-01').map((e) => e.seq)).toEqual([1, 2, 4, 5, 6, 3]);
    const after = await centralStatus(bridge.httpUrl);
    expect(after.push).toMatchObject({ pending: 0, deadLetters: 0 });
    await sender.close();
  });

  it("shows a school its own backlog and dead letters, not another school's", async () => {
    bridge = await startBridge(join(dir, 'bridge'), { central: centralConfig(central) });
    central.refuse('gate-02', 1, 'unknown person');
    const north = await deviceSender(bridge, dir, 'gate-01', 'school-1');
    const south = await deviceSender(bridge, dir, 'gate-02', 'school-2');
    await south.send(chainedRecords('gate-02', [new Date().toISOString(), new Date().toISOString()]));
    await until(async () => (await centralStatus((bridge as Bridge).httpUrl)).push?.deadLetters === 1);
    await until(() => central.deviceEvents('gate-02').length === 1);
    await central.down();
    await north.send(
      chainedRecords(
        'gate-01',
        Array.from({ length: 5 }, () => new Date().toISOString()),
      ),
    );
    await until(async () => (await centralStatus((bridge as Bridge).httpUrl)).push?.pending === 5);

    const ofSchool1 = await centralStatus(bridge.httpUrl, 'school-1');
    expect(ofSchool1.push).toMatchObject({ pending: 5, deadLetters: 0 });
    expect(ofSchool1.push?.devices.map((d) => d.device)).toEqual(['gate-01']);
    const ofSchool2 = await centralStatus(bridge.httpUrl, 'school-2');
    expect(ofSchool2.push).toMatchObject({ pending: 0, deadLetters: 1, lagSeconds: 0, devices: [] });
    // The feed's problems are the district's records: a school's view has the feed's state without them.
    expect(ofSchool2.feed).not.toHaveProperty('latestProblems');
    expect((await centralStatus(bridge.httpUrl)).feed).toHaveProperty('latestProblems');

    const deadOf = async (school: string) =>
      (
        (await admin(bridge?.httpUrl as string, `/v1/central/dead-letters?school=${school}`)) as {
          deadLetters: { device: string; seq: number }[];
        }
      ).deadLetters;
    expect(await deadOf('school-1')).toEqual([]);
    expect(await deadOf('school-2')).toMatchObject([{ device: 'gate-02', seq: 1 }]);
    await north.close();
    await south.close();
  });
});

/** The outbox of a stopped bridge, read from its database (the run's backend). */
function centralStatusOffline(dataDir: string): { pending: number } {
  const store = openTestStore(join(dataDir, 'bridge.db'));
  try {
    return store.database.prepare('SELECT count(*) AS pending FROM central_outbox').get() as {
      pending: number;
    };
  } finally {
    store.close();
  }
}
