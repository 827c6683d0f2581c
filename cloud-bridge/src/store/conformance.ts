import { type EventRecord, eventHash, GENESIS_HASH } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BridgeStore } from './types.js';

/** Consecutive, chained records of one device, as a gateway's journal would hold them. */
export function chainedRecords(
  device: string,
  count: number,
  start = { seq: 0, hash: GENESIS_HASH },
): EventRecord[] {
  const records: EventRecord[] = [];
  let prev = start;
  for (let i = 0; i < count; i++) {
    const seq = prev.seq + 1;
    const unhashed = {
      spec: 1 as const,
      device,
      seq,
      at: new Date(Date.UTC(2026, 10, 23, 0, 0, seq)).toISOString(),
      clock: 'synced' as const,
      type: seq % 2 ? 'gate.decision' : 'door.exit-request',
      data: { personId: `p${seq % 3}`, station: 'gate-main', zone: 'main-gate' },
      prev: prev.hash,
    };
    const record = { ...unhashed, hash: eventHash(unhashed) };
    records.push(record);
    prev = { seq, hash: record.hash };
  }
  return records;
}

/**
 * What every bridge store must do, after aedes-persistence's abstract suite: SQLite runs it now, and a
 * PostgreSQL store must pass it unchanged. `reopen` opens the same data again, to show it persists.
 */
export function describeStoreConformance(
  name: string,
  open: () => BridgeStore,
  reopen: () => BridgeStore,
): void {
  describe(`${name} store conformance`, () => {
    let store: BridgeStore;
    beforeEach(() => {
      store = open();
    });
    afterEach(() => {
      store.close();
    });

    it('starts every device at the genesis cursor', () => {
      expect(store.cursor('gate-01')).toEqual({ seq: 0, hash: GENESIS_HASH });
    });

    it('commits a run, advances the cursor, and stores nothing twice', () => {
      const records = chainedRecords('gate-01', 10);
      expect(store.commitRecords('gate-01', 'school-1', records.slice(0, 6))).toMatchObject({
        seq: 6,
        inserted: 6,
      });
      expect(store.commitRecords('gate-01', 'school-1', records.slice(0, 6))).toMatchObject({
        seq: 6,
        inserted: 0,
      });
      expect(store.commitRecords('gate-01', 'school-1', records.slice(3, 10))).toMatchObject({
        seq: 10,
        hash: records[9]?.hash,
        inserted: 4,
      });
      expect(store.countEvents({ device: 'gate-01' })).toBe(10);
    });

    it('stores nothing of a run that leaves a gap after the cursor', () => {
      const records = chainedRecords('gate-01', 10);
      store.commitRecords('gate-01', 'school-1', records.slice(0, 3));
      expect(store.commitRecords('gate-01', 'school-1', records.slice(5))).toMatchObject({
        seq: 3,
        inserted: 0,
      });
      expect(store.countEvents()).toBe(3);
    });

    it('keeps devices apart', () => {
      store.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 4));
      store.commitRecords('gate-02', 'school-2', chainedRecords('gate-02', 2));
      expect(store.cursor('gate-02').seq).toBe(2);
      expect(store.countEvents({ school: 'school-1' })).toBe(4);
    });

    it('queries by device, school, type, person and time, and pages by id', () => {
      store.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 9));
      store.commitRecords('gate-02', 'school-2', chainedRecords('gate-02', 3));
      expect(store.queryEvents({ device: 'gate-02', limit: 100 }).map((e) => e.record.seq)).toEqual([
        1, 2, 3,
      ]);
      expect(store.queryEvents({ school: 'school-1', type: 'door.exit-request', limit: 100 })).toHaveLength(
        4,
      );
      expect(
        store.queryEvents({ school: 'school-1', personId: 'p0', limit: 100 }).map((e) => e.record.seq),
      ).toEqual([3, 6, 9]);
      const window = store.queryEvents({
        fromAt: '2026-11-23T00:00:02.000Z',
        toAt: '2026-11-23T00:00:04.000Z',
        limit: 100,
      });
      expect(window.map((e) => `${e.record.device}:${e.record.seq}`)).toEqual([
        'gate-01:2',
        'gate-01:3',
        'gate-02:2',
        'gate-02:3',
      ]);
      const first = store.queryEvents({ limit: 5 });
      const next = store.queryEvents({ limit: 5, afterId: first.at(-1)?.id });
      expect(first).toHaveLength(5);
      expect(next.map((e) => e.id).every((id) => id > (first.at(-1)?.id ?? 0))).toBe(true);
      expect(first[0]?.school).toBe('school-1');
    });

    it('keeps a record exactly as received', () => {
      const [record] = chainedRecords('gate-01', 1);
      store.commitRecords('gate-01', 'school-1', [record as EventRecord]);
      expect(store.queryEvents({ limit: 1 })[0]?.record).toEqual(record);
    });

    it('registers, lists and revokes devices', () => {
      const device = {
        id: 'gate-01',
        school: 'school-1',
        publicKey: 'k'.repeat(43),
        secretHash: 'h',
        createdAt: '2026-11-23T00:00:00Z',
      };
      store.putDevice(device);
      store.putDevice({ ...device, id: 'gate-02', school: 'school-2' });
      expect(store.getDevice('gate-01')).toMatchObject(device);
      expect(store.listDevices('school-2').map((d) => d.id)).toEqual(['gate-02']);
      expect(store.revokeDevice('gate-01', '2026-11-24T00:00:00Z')).toBe(true);
      expect(store.revokeDevice('gate-01', '2026-11-25T00:00:00Z')).toBe(false);
      expect(store.getDevice('gate-01')?.revokedAt).toBe('2026-11-24T00:00:00Z');
      expect(store.getDevice('nobody')).toBeUndefined();
    });

    it('ignores a death older than the latest birth (a late will)', () => {
      store.putDevice({
        id: 'gate-01',
        school: 'school-1',
        publicKey: 'k',
        secretHash: 'h',
        createdAt: '2026-11-23T00:00:00Z',
      });
      expect(store.recordPresence('gate-01', { online: true, bdSeq: 5, at: '2026-11-23T08:00:00Z' })).toBe(
        true,
      );
      expect(store.recordPresence('gate-01', { online: false, bdSeq: 4, at: '2026-11-23T08:00:01Z' })).toBe(
        false,
      );
      expect(store.getDevice('gate-01')?.presence).toMatchObject({ online: true, bdSeq: 5 });
      expect(store.recordPresence('gate-01', { online: false, bdSeq: 5, at: '2026-11-23T08:05:00Z' })).toBe(
        true,
      );
      expect(store.getDevice('gate-01')?.presence?.online).toBe(false);
      expect(store.getDevice('gate-01')?.lastSeenAt).toBe('2026-11-23T08:05:00Z');
    });

    it('uses an enrollment token once, and never after it expires', () => {
      const [fresh, stale] = [
        store.createTokens('school-1', 1, '2026-12-01T00:00:00Z'),
        store.createTokens('school-1', 1, '2026-11-01T00:00:00Z'),
      ].map((t) => t[0] as string);
      expect(store.consumeToken(fresh as string, '2026-11-23T00:00:00Z')).toEqual({ school: 'school-1' });
      expect(store.consumeToken(fresh as string, '2026-11-23T00:00:00Z')).toBeUndefined();
      expect(store.consumeToken(stale as string, '2026-11-23T00:00:00Z')).toBeUndefined();
      expect(store.consumeToken('made-up', '2026-11-23T00:00:00Z')).toBeUndefined();
    });

    it('keeps what it committed across a close and reopen', () => {
      const records = chainedRecords('gate-01', 5);
      store.commitRecords('gate-01', 'school-1', records);
      store.close();
      store = reopen();
      expect(store.cursor('gate-01')).toEqual({ seq: 5, hash: records[4]?.hash });
      expect(store.countEvents()).toBe(5);
    });
  });
}
