import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Directory } from '../directory/index.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { Operations } from './service.js';

let dir: string;
let store: BridgeStore;
let ops: Operations;
let nowMs: number;

const TAP = gateDecisionData({ personId: 'p1' });

/** Appends records to a device's chain as a gateway would journal them. */
function commit(
  device: string,
  ...bodies: { type: string; data?: Record<string, unknown>; clock?: 'synced' | 'unsynced' }[]
) {
  const records = chainRecords(
    device,
    bodies.map((body) => ({ ...body, at: new Date(nowMs).toISOString(), data: body.data ?? {} })),
    store.cursor(device),
  );
  store.commitRecords(device, 'school-1', records);
}

const open = (device?: string) =>
  ops.alarms
    .list({ open: true, limit: 100 })
    .filter((alarm) => device === undefined || alarm.device === device)
    .map((alarm) => `${alarm.kind} x${alarm.count}${alarm.acknowledgedBy ? ' acked' : ''}`)
    .sort();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-'));
  store = openTestStore(join(dir, 'bridge.db'));
  nowMs = Date.parse('2026-09-01T08:00:00.000Z');
  ops = new Operations({
    store,
    directory: new Directory(store.database),
    logger: pino({ level: 'silent' }),
    settings: { offlineAfterMinutes: 10, rosterStaleAfterMinutes: 30 },
    now: () => new Date(nowMs),
  });
  for (const id of ['gate-01', 'gate-02']) {
    const [token] = store.createTokens('school-1', 1, '2026-09-01T00:00:00.000Z') as [string];
    store.enrollDevice(token, { id, publicKey: 'k', secretHash: 'h' }, '2026-08-01T00:00:00.000Z');
  }
});
afterEach(async () => {
  ops.stop();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('alarms from committed events', () => {
  it('opens one alarm per kind and device, counts repeats, keeps an acknowledged one open', () => {
    commit('gate-01', { type: 'door.forced', data: { station: 'gate-main', zone: 'z', openForMs: 0 } });
    commit('gate-01', { type: 'door.forced', data: { station: 'gate-main', zone: 'z', openForMs: 0 } });
    commit('gate-02', {
      type: 'door.held-open',
      data: { station: 'gate-main', zone: 'z', openForMs: 65_000 },
    });
    expect(open('gate-01')).toEqual(['door.forced x2']);
    const [held] = ops.alarms.list({ open: true, limit: 10 }).filter((a) => a.device === 'gate-02');
    expect(held?.message).toBe('door held open at gate-main for 65 s');
    ops.alarms.acknowledge(held?.id as number, 'op-1');
    expect(open('gate-02')).toEqual(['door.held-open x1 acked']);
    ops.alarms.clearById(held?.id as number, 'op-1');
    commit('gate-02', { type: 'door.held-open', data: { station: 'gate-main', zone: 'z', openForMs: 1000 } });
    expect(open('gate-02')).toEqual(['door.held-open x1']);
    expect(ops.alarms.list({ limit: 10 }).filter((a) => a.device === 'gate-02')).toHaveLength(2);
  });

  it('forgets the alarms cleared before an instant, never an open one, and numbers new ones on', () => {
    const raise = (device: string) => ops.alarms.raise({ kind: 'door.forced', device, message: 'forced' });
    const first = raise('gate-01');
    ops.alarms.clearById(first.id, 'op-1');
    const cleared = new Date(nowMs);
    nowMs += 60_000;
    const second = raise('gate-01');
    ops.alarms.clearById(second.id, 'op-1');
    const stillOpen = raise('gate-02');
    expect(ops.alarms.forgetClearedBefore(cleared)).toBe(0);
    expect(ops.alarms.forgetClearedBefore(new Date(cleared.getTime() + 1))).toBe(1);
    expect(ops.alarms.get(first.id)).toBeUndefined();
    nowMs += 365 * 86_400_000;
    expect(ops.alarms.forgetClearedBefore(new Date(nowMs))).toBe(1);
    expect(ops.alarms.list({ limit: 10 }).map((alarm) => alarm.id)).toEqual([stillOpen.id]);
    // An id is never given again: the audit log and the pages name alarms by it.
    expect(raise('gate-01').id).toBeGreaterThan(stillOpen.id);
  });

  it('an emergency release opens an alarm that its end rewords but leaves open, for a person to look at', () => {
    const door = { station: 'gate-main', zone: 'z' };
    commit('gate-01', { type: 'door.emergency-release', data: door });
    const [raised] = ops.alarms.list({ open: true, limit: 10 });
    expect(raised?.message).toBe('emergency release at gate-main: the door is held unlocked');
    nowMs += 600_000;
    commit('gate-01', { type: 'door.emergency-restored', data: { ...door, releasedForMs: 600_400 } });
    expect(open('gate-01')).toEqual(['door.emergency-release x1']);
    expect(ops.alarms.get(raised?.id as number)?.message).toBe(
      'emergency release at gate-main: the door was held unlocked for 600 s, locked again at 2026-09-01T08:10:00.000Z',
    );
    // Released again, in one batch with its end: the same alarm, counted twice.
    commit(
      'gate-01',
      { type: 'door.emergency-release', data: door },
      { type: 'door.emergency-restored', data: { ...door, releasedForMs: 5000 } },
    );
    expect(open('gate-01')).toEqual(['door.emergency-release x2']);
    expect(ops.alarms.get(raised?.id as number)?.message).toMatch(/held unlocked for 5 s, locked again/);
    // The end of a release whose alarm an operator cleared meanwhile opens nothing.
    ops.alarms.clearById(raised?.id as number, 'op-1');
    commit('gate-01', { type: 'door.emergency-restored', data: { ...door, releasedForMs: 1000 } });
    expect(open('gate-01')).toEqual([]);
  });

  it('a lockdown opens an alarm that its lifting rewords but leaves open', () => {
    const gate = { station: 'gate-main', zone: 'z' };
    commit('gate-02', { type: 'gate.lockdown', data: gate });
    const [raised] = ops.alarms.list({ open: true, limit: 10 });
    expect(raised?.message).toBe('lockdown at gate-main: entries refused');
    nowMs += 1_800_000;
    commit('gate-02', { type: 'gate.lockdown-lifted', data: { ...gate, lockedForMs: 1_800_000 } });
    expect(open('gate-02')).toEqual(['gate.lockdown x1']);
    expect(ops.alarms.get(raised?.id as number)?.message).toBe(
      'lockdown at gate-main: entries were refused for 1800 s, lifted at 2026-09-01T08:30:00.000Z',
    );
  });

  it('holds "clock not synced" while a device stamps unsynced times, and clears it at the first synced one', () => {
    commit(
      'gate-01',
      { type: 'gate.decision', data: TAP, clock: 'unsynced' },
      { type: 'gate.decision', data: TAP, clock: 'unsynced' },
    );
    commit('gate-01', { type: 'gate.decision', data: TAP, clock: 'unsynced' });
    expect(open('gate-01')).toEqual(['clock.unsynced x1']);
    // The journal stamps its disk warning unsynced whatever the clock: no clock alarm from it.
    commit('gate-02', {
      type: 'journal.disk-low',
      clock: 'unsynced',
      data: { freeBytes: 5 << 20, budgetBytes: 1 },
    });
    expect(open('gate-02')).toEqual(['journal.disk-low x1']);
    commit(
      'gate-01',
      { type: 'gate.decision', data: TAP, clock: 'unsynced' },
      { type: 'gate.decision', data: TAP, clock: 'synced' },
    );
    expect(open('gate-01')).toEqual([]);
  });

  it('raises a rejected roster, cleared when the device applies one', () => {
    commit('gate-01', { type: 'roster.rejected', data: { reason: 'manifest expired' } });
    expect(ops.alarms.list({ open: true, limit: 10 })[0]?.message).toBe('roster rejected: manifest expired');
    commit('gate-01', { type: 'roster.applied', data: { version: 3, kind: 'delta' } });
    expect(open()).toEqual([]);
    expect(ops.rosters.appliedAt('gate-01', 3)).toBe(new Date(nowMs).toISOString());
  });
});

describe('reader alarms', () => {
  const message = () => ops.alarms.list({ open: true, limit: 10 }).map((a) => `${a.message} x${a.count}`);

  it('names every missing reader and clears only when the last is back', () => {
    commit('gate-01', { type: 'reader.lost', data: { reader: 'sim-in' } });
    commit('gate-01', { type: 'reader.lost', data: { reader: 'sim-out' } });
    expect(message()).toEqual(['readers unplugged: sim-in, sim-out x2']);
    commit('gate-01', { type: 'reader.connected', data: { reader: 'sim-in' } });
    expect(message()).toEqual(['reader sim-out unplugged x2']);
    commit('gate-01', { type: 'reader.connected', data: { reader: 'sim-extra' } });
    expect(message()).toEqual(['reader sim-out unplugged x2']);
    commit('gate-01', { type: 'reader.connected', data: { reader: 'sim-out' } });
    expect(message()).toEqual([]);
  });

  it('forgets the missing readers when an operator clears the alarm by hand', () => {
    commit('gate-01', { type: 'reader.lost', data: { reader: 'old-reader-in' } });
    const [alarm] = ops.alarms.list({ open: true, limit: 10 });
    ops.alarms.clearById(alarm?.id as number, 'op-1');
    // Replaced by a reader of another name: its first appearance clears what it raises.
    commit('gate-01', { type: 'reader.fault', data: { message: 'pcscd is not running' } });
    commit('gate-01', { type: 'reader.connected', data: { reader: 'new-reader-in' } });
    expect(message()).toEqual([]);
  });
});

describe('storage alarms', () => {
  const storage = (fields: Partial<Record<string, unknown>>) => ({
    diskLow: true,
    diskFull: true,
    held: 1200,
    maxHeld: 50_000,
    lost: 0,
    quarantined: 0,
    freeBytes: 0,
    ...fields,
  });
  const state = (bdSeq: number, fields: Partial<Record<string, unknown>>) => ({
    v: 1 as const,
    device: 'gate-01',
    school: 'school-1',
    online: true,
    bdSeq,
    storage: storage(fields),
  });

  it('raises the disk alarm from the live state, rewords it as records are held, and clears it when the disk takes writes again', () => {
    ops.onDeviceState('gate-01', 'school-1', state(1, {}));
    const [raised] = ops.alarms.list({ open: true, limit: 10 });
    expect(raised).toMatchObject({
      kind: 'journal.disk-low',
      device: 'gate-01',
      message: 'journal disk full: 1200 of 50000 records held in memory, 0 MiB free',
    });
    ops.onDeviceState('gate-01', 'school-1', state(1, { held: 50_000, lost: 300 }));
    expect(ops.alarms.get(raised?.id as number)).toMatchObject({
      count: 1,
      message: 'journal disk full: 50000 of 50000 records held in memory, 300 lost, 0 MiB free',
    });
    ops.onDeviceState('gate-01', 'school-1', state(1, { diskLow: false, diskFull: false, held: 0 }));
    expect(open('gate-01')).toEqual([]);
    // The warning the journal wrote while the disk was low arrives after: the live state is newer.
    store.recordPresence('gate-01', {
      online: true,
      bdSeq: 1,
      at: new Date(nowMs).toISOString(),
      storage: storage({ diskLow: false, diskFull: false }),
    });
    commit('gate-01', {
      type: 'journal.disk-low',
      data: { freeBytes: 0, budgetBytes: 1 },
      clock: 'unsynced',
    });
    expect(open('gate-01')).toEqual([]);
  });

  it('raises an alarm for each journal loss a device explains, naming the range and the file kept aside', () => {
    commit('gate-01', {
      type: 'journal.damaged',
      clock: 'unsynced',
      data: {
        cause: 'unreadable',
        firstSeq: 120,
        lastSeq: 180,
        records: 61,
        file: 'seg-000000000120.log.20260901T080000Z',
        reason: 'could not be read (EIO)',
      },
    });
    const [alarm] = ops.alarms.list({ open: true, limit: 10 });
    expect(alarm).toMatchObject({
      kind: 'journal.damaged',
      message:
        'journal unreadable: records 120 to 180 lost on the device; seg-000000000120.log.20260901T080000Z quarantined',
    });
    expect(ops.losses({ device: 'gate-01', limit: 10 })).toMatchObject([
      { firstSeq: 120, lastSeq: 180, missing: 0 },
    ]);
    // Its own warnings say nothing of the clock.
    expect(open('gate-01')).toEqual(['journal.damaged x1']);
  });
});

describe('computed and external alarms', () => {
  it('raises "device offline" after the threshold and clears it when the device is back', () => {
    const at = new Date(nowMs).toISOString();
    store.recordPresence('gate-01', { online: false, bdSeq: 1, at });
    ops.evaluate();
    expect(open()).toEqual([]);
    nowMs += 11 * 60_000;
    ops.evaluate();
    ops.evaluate();
    expect(open()).toEqual(['device.offline x1']);
    store.recordPresence('gate-01', { online: true, bdSeq: 2, at: new Date(nowMs).toISOString() });
    ops.evaluate();
    expect(open()).toEqual([]);
  });

  it('takes the central connector’s alarms, and clears one when its count is back to 0', () => {
    ops.onAlarm({ kind: 'central.dead-letter', message: '2 events refused', count: 2 });
    ops.onAlarm({ kind: 'central.dead-letter', message: '3 events refused', count: 3 });
    const [alarm] = ops.alarms.list({ open: true, limit: 10 });
    expect(alarm).toMatchObject({ kind: 'central.dead-letter', message: '3 events refused', count: 2 });
    expect(alarm?.device).toBeUndefined();
    ops.onAlarm({ kind: 'central.dead-letter', message: 'none left', count: 0 });
    expect(open()).toEqual([]);
  });

  it('never refuses an event because of itself', () => {
    store.database.exec('DROP TABLE ops_roster_applied');
    commit('gate-01', { type: 'roster.applied', data: { version: 1, kind: 'snapshot' } });
    expect(store.cursor('gate-01').seq).toBe(1);
  });
});
