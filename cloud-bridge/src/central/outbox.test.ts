import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { CentralClient } from './client.js';
import { batchKey, type CentralAlarm, Outbox } from './outbox.js';
import { CentralState } from './tables.js';
import { CentralTestServer } from './testing.js';

let dir: string;
let store: BridgeStore;
let central: CentralTestServer;
let alarms: CentralAlarm[];

function records(device: string, count: number): EventRecord[] {
  return chainRecords(
    device,
    Array.from({ length: count }, (_, i) => ({
      type: 'gate.decision',
      at: new Date(Date.UTC(2026, 8, 1, 8, 0, i)).toISOString(),
      data: { personId: 'p1' },
    })),
  );
}

function outbox(settings: Record<string, number> = {}, timeoutMs = 2000): Outbox {
  const box = new Outbox({
    store,
    state: new CentralState(store.database),
    client: new CentralClient({ url: central.url, token: central.token, timeoutMs }),
    settings: {
      intervalMs: 1000,
      batchSize: 500,
      backoffBaseMs: 100,
      backoffMaxMs: 1000,
      maxAttempts: 2,
      unreachableAlarmMs: 0,
      ...settings,
    },
    logger: pino({ level: 'silent' }),
    onAlarm: (alarm) => alarms.push(alarm),
  });
  box.attach();
  return box;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
  store = openTestStore(join(dir, 'bridge.db'));
  central = await CentralTestServer.start();
  alarms = [];
});
afterEach(async () => {
  store.close();
  await central.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the outbox', () => {
  it('takes in events stored before it was attached, and every event committed after', async () => {
    store.commitRecords('gate-01', 'school-1', records('gate-01', 3));
    const box = outbox();
    store.commitRecords('gate-02', 'school-1', records('gate-02', 2));
    expect(box.status().pending).toBe(5);
    expect(await box.pushOnce()).toBe(0); // delivered: look for more at once
    expect(await box.pushOnce()).toBe(1000); // nothing left: wait the interval
    expect(central.events.map((e) => `${e.device}:${e.seq}`)).toEqual([
      'gate-01:1',
      'gate-01:2',
      'gate-01:3',
      'gate-02:1',
      'gate-02:2',
    ]);
    expect(box.status()).toMatchObject({ pending: 0, delivered: 5, lagSeconds: 0 });
    // Attached again (a restart): nothing delivered comes back; what was committed since is there.
    store.commitRecords('gate-03', 'school-1', records('gate-03', 1));
    expect(outbox().status().pending).toBe(1);
  });

  it('sends a batch whose answer was lost again under the same key, and it is stored once', async () => {
    const box = outbox();
    store.commitRecords('gate-01', 'school-1', records('gate-01', 4));
    central.dropAfterStoreNext(1);
    const wait = await box.pushOnce();
    expect(wait).toBeGreaterThanOrEqual(50);
    expect(box.status()).toMatchObject({ pending: 4, lastError: expect.any(String) });
    expect(box.status().nextAttemptAt).toBeDefined();
    // More events meanwhile do not change the batch being retried.
    store.commitRecords('gate-02', 'school-1', records('gate-02', 1));
    await box.pushOnce();
    await box.pushOnce();
    const keys = central.batchesReceived.map((b) => b.key);
    expect(keys[0]).toBe(keys[1]);
    expect(keys[0]).toBe(batchKey([1, 2, 3, 4].map((seq) => ({ device: 'gate-01', seq }))));
    expect(central.events).toHaveLength(5);
    expect(central.duplicates).toBe(4);
    expect(box.status()).toMatchObject({ pending: 0, delivered: 5 });
  });

  it('gives up on a stalled answer at the timeout and retries', async () => {
    const box = outbox({}, 200);
    store.commitRecords('gate-01', 'school-1', records('gate-01', 2));
    central.stallNext(1);
    await box.pushOnce();
    expect(box.status().lastError).toMatch(/no answer within 200 ms/);
    await box.pushOnce();
    expect(central.deviceEvents('gate-01').map((e) => e.seq)).toEqual([1, 2]);
    expect(box.status().pending).toBe(0);
  });

  it('waits as long as a 429 asks, and raises the unreachable alarm once per outage', async () => {
    const box = outbox();
    store.commitRecords('gate-01', 'school-1', records('gate-01', 1));
    central.failNext(2, 429, 30);
    expect(await box.pushOnce()).toBe(1000); // Retry-After 30 s, held to backoffMaxMs
    expect(await box.pushOnce()).toBe(1000);
    expect(alarms.filter((a) => a.kind === 'central.unreachable')).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ count: 1 });
    await box.pushOnce();
    expect(box.status()).toMatchObject({ pending: 0 });
    expect(box.status().nextAttemptAt).toBeUndefined();
  });

  it('holds back a device behind a refused event, buries it after maxAttempts with an alarm, and retries it on demand', async () => {
    const box = outbox();
    store.commitRecords('gate-01', 'school-1', records('gate-01', 3));
    store.commitRecords('gate-02', 'school-1', records('gate-02', 2));
    central.refuse('gate-01', 2, 'unknown person');
    await box.pushOnce();
    expect(central.events.map((e) => `${e.device}:${e.seq}`)).toEqual([
      'gate-01:1',
      'gate-02:1',
      'gate-02:2',
    ]);
    expect(box.status().devices).toEqual([{ device: 'gate-01', pending: 2, oldestAt: expect.any(String) }]);
    await box.pushOnce();
    // Only the refused event went the second time; its device's later one waited.
    expect(central.batchesReceived.at(-1)?.size).toBe(1);
    expect(box.deadLetters()).toMatchObject([
      { device: 'gate-01', seq: 2, attempts: 2, reason: 'unknown person' },
    ]);
    expect(alarms).toEqual([expect.objectContaining({ kind: 'central.dead-letter', count: 1 })]);
    await box.pushOnce();
    expect(central.deviceEvents('gate-01').map((e) => e.seq)).toEqual([1, 3]);

    central.accept('gate-01', 2);
    const id = box.deadLetters()[0]?.id as number;
    expect(box.retryDeadLetter(id)).toBe(true);
    expect(box.retryDeadLetter(id)).toBe(false);
    await box.pushOnce();
    expect(central.deviceEvents('gate-01').map((e) => e.seq)).toEqual([1, 3, 2]);
    expect(box.status()).toMatchObject({ pending: 0, deadLetters: 0 });
  });
});
