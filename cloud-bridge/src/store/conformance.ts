import { type CardEntry, type EventRecord, eventHash, GENESIS_HASH } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseTable } from '../leases/index.js';
import { LoanLedger } from '../library/loans.js';
import type { BridgeStore } from './types.js';

/** Consecutive, chained records of one device, as a gateway's journal would hold them. */
export function chainedRecords(
  device: string,
  count: number,
  start = { seq: 0, hash: GENESIS_HASH },
): EventRecord[] {
  return chainRecords(
    device,
    Array.from({ length: count }, (_, i) => {
      const seq = start.seq + i + 1;
      return {
        at: new Date(Date.UTC(2026, 10, 23, 0, 0, seq)).toISOString(),
        ...(seq % 2
          ? { type: 'gate.decision', data: gateDecisionData({ personId: `p${seq % 3}` }) }
          : {
              type: 'door.exit-request',
              data: { personId: `p${seq % 3}`, station: 'gate-main', zone: 'main-gate' },
            }),
      };
    }),
    start,
  );
}

/** A school's first roster, committed as the roster service does: its cards and a snapshot signed for them. */
export function commitSignedRoster(
  store: BridgeStore,
  school: string,
  cards: CardEntry[],
  createdAt: string,
): void {
  const issued = new TestAuthority(school).snapshot(1, cards);
  store.commitRosters([
    {
      school,
      cards,
      settings: undefined,
      version: {
        school,
        version: 1,
        snapshotManifest: Buffer.from(issued.manifest).toString('utf8'),
        snapshotBody: issued.body,
        createdAt,
      },
    },
  ]);
}

/** One of a desk's library events: its type, when, and its data. */
export type DeskEvent = [type: string, at: string, data: Record<string, unknown>];

/** A desk's checkout of a copy, lent at `at`. */
export const checkoutEvent = (
  at: string,
  loan: { loanId: string; itemId: string; personId: string; dueAt: string },
): DeskEvent => ['library.checkout', at, loan];

/** A desk's return of a copy at `at`. */
export const returnEvent = (at: string, loan: { loanId: string; itemId: string }): DeskEvent => [
  'library.return',
  at,
  loan,
];

/** A device's library events, chained on from `start`: each `[type, at, data]`. */
export function libraryRecords(
  device: string,
  events: DeskEvent[],
  start = { seq: 0, hash: GENESIS_HASH },
): EventRecord[] {
  return chainRecords(
    device,
    events.map(([type, at, data]) => ({ type, at, data: { station: 'desk-1', source: 'local', ...data } })),
    start,
  );
}

const lend = (loanId: string, itemId: string, personId: string, dueAt = '2026-12-07T00:00:00.000Z') => ({
  loanId,
  itemId,
  personId,
  dueAt,
});

/** A record with fields changed and its hash recomputed (it then belongs to a different chain). */
function rehashed(record: EventRecord, change: Partial<EventRecord>): EventRecord {
  const { hash: _old, ...rest } = { ...record, ...change };
  return { ...rest, hash: eventHash(rest) };
}

const DEVICE = {
  id: 'gate-01',
  school: 'school-1',
  publicKey: 'k'.repeat(43),
  secretHash: 'h'.repeat(64),
  epoch: 1,
  createdAt: '2026-11-23T00:00:00.000Z',
};

/** Enrolls a device as the bridge does, with a fresh token of its school (bound to it when asked). */
function enrollAs(
  store: BridgeStore,
  device: { id: string; school: string; publicKey: string; secretHash?: string },
  at = DEVICE.createdAt,
  bound = false,
) {
  const [token] = store.createTokens(
    device.school,
    1,
    '2026-12-01T00:00:00.000Z',
    bound ? device.id : undefined,
  ) as [string];
  return store.enrollDevice(
    token,
    { id: device.id, publicKey: device.publicKey, secretHash: device.secretHash ?? DEVICE.secretHash },
    at,
  );
}

type Open = () => Promise<BridgeStore> | BridgeStore;

/**
 * What every bridge store must do, after aedes-persistence's abstract suite: SQLite runs it now, and a
 * PostgreSQL store must pass it unchanged. `open` gives an empty store; `reopen`, when given, opens
 * the data of the store `open` gave last, to show that it persists.
 */
export function describeStoreConformance(name: string, open: Open, reopen?: Open): void {
  describe(`${name} store conformance`, () => {
    let store: BridgeStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(() => {
      store.close();
    });

    describe('events', () => {
      it('starts every device at the genesis cursor', () => {
        expect(store.cursor('gate-01')).toEqual({ seq: 0, hash: GENESIS_HASH });
        expect(store.countEvents()).toBe(0);
      });

      it('commits a run and advances the cursor to its last record', () => {
        const records = chainedRecords('gate-01', 6);
        expect(store.commitRecords('gate-01', 'school-1', records)).toEqual({
          seq: 6,
          hash: records[5]?.hash,
          inserted: 6,
        });
        expect(store.cursor('gate-01')).toEqual({ seq: 6, hash: records[5]?.hash });
        expect(store.countEvents({ device: 'gate-01' })).toBe(6);
      });

      it('inserts nothing for a duplicate run and keeps the cursor', () => {
        const records = chainedRecords('gate-01', 4);
        store.commitRecords('gate-01', 'school-1', records);
        expect(store.commitRecords('gate-01', 'school-1', records)).toEqual({
          seq: 4,
          hash: records[3]?.hash,
          inserted: 0,
        });
        expect(store.countEvents()).toBe(4);
      });

      it('inserts only the new part of an overlapping run', () => {
        const records = chainedRecords('gate-01', 10);
        store.commitRecords('gate-01', 'school-1', records.slice(0, 6));
        expect(store.commitRecords('gate-01', 'school-1', records.slice(3))).toEqual({
          seq: 10,
          hash: records[9]?.hash,
          inserted: 4,
        });
        expect(store.queryEvents({ device: 'gate-01', limit: 100 }).map((e) => e.record.seq)).toEqual([
          1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
        ]);
      });

      it('stores nothing of a run that does not start at cursor + 1', () => {
        const records = chainedRecords('gate-01', 10);
        const at3 = store.commitRecords('gate-01', 'school-1', records.slice(0, 3));
        expect(store.commitRecords('gate-01', 'school-1', records.slice(5))).toEqual({ ...at3, inserted: 0 });
        expect(store.commitRecords('gate-01', 'school-1', [])).toEqual({ ...at3, inserted: 0 });
        expect(store.cursor('gate-01')).toEqual({ seq: 3, hash: at3.hash });
        expect(store.countEvents()).toBe(3);
      });

      it('stores a run only up to its first gap', () => {
        const records = chainedRecords('gate-01', 6);
        const gapped = [...records.slice(0, 3), ...records.slice(4)];
        expect(store.commitRecords('gate-01', 'school-1', gapped)).toMatchObject({ seq: 3, inserted: 3 });
        expect(store.countEvents()).toBe(3);
      });

      it('stores nothing of a run whose first prev is not the cursor hash (a fork)', () => {
        const records = chainedRecords('gate-01', 4);
        store.commitRecords('gate-01', 'school-1', records.slice(0, 2));
        const fork = rehashed(records[2] as EventRecord, { prev: 'f'.repeat(64) });
        expect(store.commitRecords('gate-01', 'school-1', [fork])).toMatchObject({ seq: 2, inserted: 0 });
        expect(store.countEvents()).toBe(2);
      });

      describe('losses devices declare', () => {
        const damaged = (data: Record<string, unknown>, at = '2026-11-23T01:00:00.000Z') => ({
          type: 'journal.damaged',
          at,
          data: { cause: 'corrupt', reason: 'seg-000000000005.log is damaged', ...data },
        });

        it('takes a declared break as a fact, goes on from its resume point, and counts only what it never had', () => {
          const records = chainedRecords('gate-01', 12);
          store.commitRecords('gate-01', 'school-1', records.slice(0, 3));
          // Records 4..8 were lost on the device before they reached the bridge, which holds 1..3.
          const after = records.slice(8);
          const loss = {
            cause: 'corrupt' as const,
            firstSeq: 5,
            lastSeq: 8,
            damagedSeq: 13,
            resumeHash: (after[0] as EventRecord).prev,
          };
          expect(store.commitRecords('gate-01', 'school-1', after)).toMatchObject({ seq: 3, inserted: 0 });
          // Not covering record 4, which the bridge does not have either: nothing is taken.
          expect(store.commitRecords('gate-01', 'school-1', after, { loss })).toMatchObject({
            seq: 3,
            inserted: 0,
          });
          expect(store.journalLosses({ limit: 10 })).toEqual([]);

          const covering = { ...loss, firstSeq: 4 };
          const committed = store.commitRecords('gate-01', 'school-1', after, { loss: covering });
          expect(committed).toMatchObject({
            seq: 12,
            inserted: 4,
            loss: { device: 'gate-01', firstSeq: 4, lastSeq: 8, records: 5, missing: 5, damagedSeq: 13 },
          });
          expect(store.cursor('gate-01')).toEqual({ seq: 12, hash: records[11]?.hash });
          // Declared again (the batch sent twice): a duplicate, no second fact.
          store.commitRecords('gate-01', 'school-1', after, { loss: covering });
          expect(store.journalLosses({ device: 'gate-01', limit: 10 })).toHaveLength(1);
          expect(store.lossTotals('school-1')).toMatchObject({ losses: 1, missing: 5 });
          expect(store.lossTotals('school-2')).toEqual({ losses: 0, missing: 0 });
        });

        it('confirms the fact with the journal.damaged record, or keeps the record as the fact', () => {
          const head = chainedRecords('gate-01', 3);
          store.commitRecords('gate-01', 'school-1', head);
          const resumed = chainRecords('gate-01', [damaged({ firstSeq: 4, lastSeq: 6, records: 3 })], {
            seq: 6,
            hash: 'a'.repeat(64),
          });
          store.commitRecords('gate-01', 'school-1', resumed, {
            loss: { cause: 'corrupt', firstSeq: 4, lastSeq: 6, damagedSeq: 7, resumeHash: 'a'.repeat(64) },
          });
          const [confirmed] = store.journalLosses({ limit: 10 });
          expect(confirmed).toMatchObject({ missing: 3, reason: 'seg-000000000005.log is damaged' });
          expect(confirmed?.confirmedAt).toEqual(expect.any(String));

          // A loss the bridge saw no gap for (it had the records), and one of records never numbered.
          const more = chainRecords(
            'gate-01',
            [
              damaged({ firstSeq: 1, lastSeq: 2, records: 2 }),
              damaged({ cause: 'unsaved-at-stop', records: 40, reason: 'disk full at stop' }),
            ],
            { seq: 7, hash: (resumed[0] as EventRecord).hash },
          );
          store.commitRecords('gate-01', 'school-1', more);
          expect(store.journalLosses({ limit: 10 }).map((l) => [l.cause, l.records, l.missing])).toEqual([
            ['unsaved-at-stop', 40, 40],
            ['corrupt', 2, 0],
            ['corrupt', 3, 3],
          ]);
          expect(store.lossTotals()).toMatchObject({ losses: 3, missing: 43 });
        });
      });

      it('stores a known type with data of another shape, says so, and lists it for no projection', () => {
        const [good] = chainedRecords('gate-01', 1) as [EventRecord];
        const [bad, unknown] = chainRecords(
          'gate-01',
          [
            { type: 'gate.decision', at: good.at, data: { personId: 'p1', decision: 7 } },
            { type: 'gate.newer-kind', at: good.at, data: { anything: [1] } },
          ],
          good,
        ) as [EventRecord, EventRecord];
        const result = store.commitRecords('gate-01', 'school-1', [good, bad, unknown]);
        expect(result).toMatchObject({ seq: 3, inserted: 3 });
        // A type this version does not know is carried whole, not judged.
        expect(result.uninterpreted).toEqual([
          { seq: 2, type: 'gate.decision', problem: expect.any(String) },
        ]);
        expect(result.uninterpreted?.[0]?.problem).toMatch(/decision/);
        expect(store.queryEvents({ device: 'gate-01', limit: 10 }).map((e) => e.record)).toEqual([
          good,
          bad,
          unknown,
        ]);
      });

      it('keeps devices apart', () => {
        store.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 4));
        store.commitRecords('gate-02', 'school-2', chainedRecords('gate-02', 2));
        expect(store.cursor('gate-01').seq).toBe(4);
        expect(store.cursor('gate-02').seq).toBe(2);
        expect(store.countEvents({ school: 'school-1' })).toBe(4);
        expect(store.countEvents({ school: 'school-2', device: 'gate-02' })).toBe(2);
        expect(store.countEvents({ school: 'school-2', device: 'gate-01' })).toBe(0);
        expect(store.countEvents()).toBe(6);
      });

      it('keeps a record exactly as received, with its school and receipt time', () => {
        const [record] = chainedRecords('gate-01', 1) as [EventRecord];
        const withExtra = rehashed(record, { extra: { from: 'a newer peer' } });
        store.commitRecords('gate-01', 'school-1', [withExtra]);
        const [stored] = store.queryEvents({ limit: 1 });
        expect(stored?.record).toEqual(withExtra);
        expect(stored?.school).toBe('school-1');
        expect(typeof stored?.id).toBe('number');
        expect(Number.isNaN(Date.parse(stored?.receivedAt ?? ''))).toBe(false);
      });

      describe('queries', () => {
        beforeEach(() => {
          store.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 9));
          store.commitRecords('gate-02', 'school-2', chainedRecords('gate-02', 3));
        });
        const keys = (events: { record: EventRecord }[]) =>
          events.map((e) => `${e.record.device}:${e.record.seq}`);

        it('filters by device and school', () => {
          expect(keys(store.queryEvents({ device: 'gate-02', limit: 100 }))).toEqual([
            'gate-02:1',
            'gate-02:2',
            'gate-02:3',
          ]);
          expect(store.queryEvents({ school: 'school-1', limit: 100 })).toHaveLength(9);
          expect(store.queryEvents({ school: 'school-1', device: 'gate-02', limit: 100 })).toEqual([]);
        });

        it('filters by type and by data.personId', () => {
          expect(
            keys(store.queryEvents({ school: 'school-1', type: 'door.exit-request', limit: 100 })),
          ).toEqual(['gate-01:2', 'gate-01:4', 'gate-01:6', 'gate-01:8']);
          expect(keys(store.queryEvents({ personId: 'p0', limit: 100 }))).toEqual([
            'gate-01:3',
            'gate-01:6',
            'gate-01:9',
            'gate-02:3',
          ]);
          expect(store.queryEvents({ personId: 'nobody', limit: 100 })).toEqual([]);
        });

        it('filters by a time range, from inclusive to exclusive, whatever the offset', () => {
          expect(
            keys(
              store.queryEvents({
                fromAt: '2026-11-23T00:00:02.000Z',
                toAt: '2026-11-23T00:00:04.000Z',
                limit: 100,
              }),
            ),
          ).toEqual(['gate-01:2', 'gate-01:3', 'gate-02:2', 'gate-02:3']);
          // The same window written in UTC+08:00.
          expect(
            keys(
              store.queryEvents({
                device: 'gate-01',
                fromAt: '2026-11-23T08:00:08+08:00',
                limit: 100,
              }),
            ),
          ).toEqual(['gate-01:8', 'gate-01:9']);
        });

        it('compares a record time written with an offset in UTC', () => {
          const start = store.cursor('gate-02');
          const [record] = chainedRecords('gate-02', 1, start) as [EventRecord];
          const local = rehashed(record, { at: '2026-11-23T07:59:59.500+08:00', prev: start.hash });
          store.commitRecords('gate-02', 'school-2', [local]);
          expect(
            keys(
              store.queryEvents({
                fromAt: '2026-11-22T23:59:59.000Z',
                toAt: '2026-11-23T00:00:00.000Z',
                limit: 100,
              }),
            ),
          ).toEqual(['gate-02:4']);
          expect(store.queryEvents({ device: 'gate-02', limit: 100 }).at(-1)?.record.at).toBe(
            '2026-11-23T07:59:59.500+08:00',
          );
        });

        it('orders by id, limits, and pages with afterId', () => {
          const all = store.queryEvents({ limit: 100 });
          expect(all).toHaveLength(12);
          const ids = all.map((e) => e.id);
          expect([...ids].sort((a, b) => a - b)).toEqual(ids);
          expect(new Set(ids).size).toBe(12);

          const pages: number[][] = [];
          let afterId: number | undefined;
          for (;;) {
            const page = store.queryEvents({ limit: 5, ...(afterId === undefined ? {} : { afterId }) });
            if (page.length === 0) break;
            pages.push(page.map((e) => e.id));
            afterId = page.at(-1)?.id;
          }
          expect(pages.map((p) => p.length)).toEqual([5, 5, 2]);
          expect(pages.flat()).toEqual(ids);
          expect(store.queryEvents({ school: 'school-1', limit: 3, afterId: ids[7] })).toHaveLength(1);
        });
      });
    });

    describe('devices', () => {
      it('puts, gets, lists and revokes devices', () => {
        enrollAs(store, DEVICE);
        enrollAs(store, { ...DEVICE, id: 'gate-02', school: 'school-2' });
        enrollAs(store, { ...DEVICE, id: 'gate-00' });
        expect(store.getDevice('gate-01')).toEqual(DEVICE);
        expect(store.getDevice('nobody')).toBeUndefined();
        expect(store.listDevices().map((d) => d.id)).toEqual(['gate-00', 'gate-01', 'gate-02']);
        expect(store.listDevices('school-2').map((d) => d.id)).toEqual(['gate-02']);
        expect(store.listDevices('school-9')).toEqual([]);

        expect(store.revokeDevice('gate-01', '2026-11-24T00:00:00.000Z')).toBe(true);
        expect(store.revokeDevice('gate-01', '2026-11-25T00:00:00.000Z')).toBe(false);
        expect(store.revokeDevice('nobody', '2026-11-25T00:00:00.000Z')).toBe(false);
        expect(store.getDevice('gate-01')?.revokedAt).toBe('2026-11-24T00:00:00.000Z');
        expect(store.getDevice('gate-02')?.revokedAt).toBeUndefined();
      });

      it('takes presence by the Sparkplug bdSeq rule', () => {
        enrollAs(store, DEVICE);
        const presence = (online: boolean, bdSeq: number, at: string) =>
          store.recordPresence('gate-01', { online, bdSeq, at });
        expect(presence(true, 5, '2026-11-23T08:00:00.000Z')).toBe(true);
        expect(store.getDevice('gate-01')?.presence).toEqual({
          online: true,
          bdSeq: 5,
          at: '2026-11-23T08:00:00.000Z',
        });
        // A late will from the connection before: ignored.
        expect(presence(false, 4, '2026-11-23T08:00:01.000Z')).toBe(false);
        expect(store.getDevice('gate-01')).toMatchObject({
          presence: { online: true, bdSeq: 5 },
          lastSeenAt: '2026-11-23T08:00:00.000Z',
        });
        // This connection's death: taken.
        expect(presence(false, 5, '2026-11-23T08:05:00.000Z')).toBe(true);
        expect(store.getDevice('gate-01')).toMatchObject({
          presence: { online: false, bdSeq: 5 },
          lastSeenAt: '2026-11-23T08:05:00.000Z',
        });
        // A newer birth: taken; an older one: not.
        expect(presence(true, 6, '2026-11-23T08:06:00.000Z')).toBe(true);
        expect(presence(true, 5, '2026-11-23T08:07:00.000Z')).toBe(false);
        expect(store.getDevice('gate-01')?.presence).toMatchObject({ online: true, bdSeq: 6 });
        expect(store.recordPresence('nobody', { online: true, bdSeq: 1, at: DEVICE.createdAt })).toBe(false);
      });

      it('keeps the optional presence fields', () => {
        enrollAs(store, DEVICE);
        const full = {
          online: true,
          bdSeq: 1,
          at: '2026-11-23T08:00:00.000Z',
          firmware: '1.2.3',
          rosterVersion: 7,
          keySetVersion: 2,
          journalBacklog: 40,
        };
        expect(store.recordPresence('gate-01', full)).toBe(true);
        expect(store.getDevice('gate-01')?.presence).toEqual(full);
        expect(store.listDevices()[0]?.presence).toEqual(full);
      });
    });

    describe('enrollment tokens', () => {
      it('makes distinct random base64url tokens', () => {
        const tokens = store.createTokens('school-1', 3, '2026-12-01T00:00:00.000Z');
        expect(tokens).toHaveLength(3);
        expect(new Set(tokens).size).toBe(3);
        for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      });

      it('uses a token once, and never after it expires', () => {
        const [fresh] = store.createTokens('school-1', 1, '2026-12-01T00:00:00.000Z') as [string];
        const [stale] = store.createTokens('school-2', 1, '2026-11-01T00:00:00.000Z') as [string];
        const [edge] = store.createTokens('school-2', 1, '2026-11-23T08:00:00+08:00') as [string];
        const now = '2026-11-23T00:00:00.000Z';
        const use = (token: string, id: string) =>
          store.enrollDevice(token, { id, publicKey: DEVICE.publicKey, secretHash: DEVICE.secretHash }, now);
        expect(store.tokenGrant(fresh, now)).toEqual({ school: 'school-1' });
        expect(use(fresh, 'gate-01')).toMatchObject({ ok: true, device: { school: 'school-1', epoch: 1 } });
        expect(store.tokenGrant(fresh, now)).toBeUndefined();
        expect(use(fresh, 'gate-02')).toEqual({ ok: false, refused: 'token' });
        expect(use(stale, 'gate-02')).toEqual({ ok: false, refused: 'token' });
        // Expiry is an instant: 08:00+08:00 is midnight UTC, so the token is spent by then.
        expect(use(edge, 'gate-02')).toEqual({ ok: false, refused: 'token' });
        expect(use('made-up', 'gate-02')).toEqual({ ok: false, refused: 'token' });
        expect(store.getDevice('gate-02')).toBeUndefined();
      });

      it('lets a token that was not used still work before expiry', () => {
        const [edge] = store.createTokens('school-2', 1, '2026-11-23T08:00:00+08:00') as [string];
        expect(store.tokenGrant(edge, '2026-11-22T23:59:59.999Z')).toEqual({ school: 'school-2' });
      });

      it('forgets the tokens used or expired, and keeps those still usable', () => {
        const [used, live, expired] = [
          ...store.createTokens('school-1', 2, '2026-12-01T00:00:00.000Z'),
          ...store.createTokens('school-2', 1, '2026-11-22T00:00:00.000Z'),
        ] as [string, string, string];
        const enrolling = { id: DEVICE.id, publicKey: DEVICE.publicKey, secretHash: DEVICE.secretHash };
        expect(store.enrollDevice(used, enrolling, '2026-11-22T12:00:00.000Z')).toMatchObject({ ok: true });
        const before = '2026-11-21T12:00:00.000Z';
        expect(store.forgetSpentTokens('2026-11-21T23:59:59.999Z')).toBe(0);
        expect(store.tokenGrant(expired, before)).toEqual({ school: 'school-2' });
        expect(store.forgetSpentTokens('2026-11-23T00:00:00.000Z')).toBe(2);
        // Gone, not only expired: it is refused even at an instant before its expiry.
        expect(store.tokenGrant(expired, before)).toBeUndefined();
        expect(store.forgetSpentTokens('2026-11-23T00:00:00.000Z')).toBe(0);
        expect(store.tokenGrant(live, '2026-11-23T00:00:00.000Z')).toEqual({ school: 'school-1' });
        // Forgotten, a spent token is refused as before.
        expect(store.enrollDevice(used, { ...enrolling, id: 'gate-02' }, '2026-11-23T00:00:00.000Z')).toEqual(
          {
            ok: false,
            refused: 'token',
          },
        );
      });

      it('never re-binds a live device, and leaves the token usable when it refuses', () => {
        expect(enrollAs(store, DEVICE)).toMatchObject({ ok: true, newEpoch: false });
        const [spare] = store.createTokens('school-1', 1, '2026-12-01T00:00:00.000Z') as [string];
        const attacker = { id: 'gate-01', publicKey: 'a'.repeat(43), secretHash: 'b'.repeat(64) };
        expect(store.enrollDevice(spare, attacker, '2026-11-24T00:00:00.000Z')).toEqual({
          ok: false,
          refused: 'enrolled',
        });
        expect(store.getDevice('gate-01')).toEqual(DEVICE);
        // Refused, so not used: the same token still enrolls a new device.
        expect(
          store.enrollDevice(spare, { ...attacker, id: 'gate-09' }, '2026-11-24T00:00:00.000Z'),
        ).toMatchObject({
          ok: true,
        });
      });

      it('enrolls with a token bound to a device id only that id', () => {
        const [bound] = store.createTokens('school-1', 1, '2026-12-01T00:00:00.000Z', 'gate-07') as [string];
        expect(store.tokenGrant(bound, DEVICE.createdAt)).toEqual({ school: 'school-1', device: 'gate-07' });
        const device = { publicKey: DEVICE.publicKey, secretHash: DEVICE.secretHash };
        expect(store.enrollDevice(bound, { ...device, id: 'gate-08' }, DEVICE.createdAt)).toEqual({
          ok: false,
          refused: 'bound',
        });
        expect(store.enrollDevice(bound, { ...device, id: 'gate-07' }, DEVICE.createdAt)).toMatchObject({
          ok: true,
          device: { id: 'gate-07', epoch: 1 },
        });
      });
    });

    describe('device epochs', () => {
      it('starts a new epoch for a revoked id enrolled with a new key: new chain, old records kept', () => {
        enrollAs(store, DEVICE);
        const first = chainedRecords('gate-01', 3);
        store.commitRecords('gate-01', 'school-1', first);
        store.recordPresence('gate-01', { online: true, bdSeq: 14, at: '2026-11-23T08:00:00.000Z' });
        store.revokeDevice('gate-01', '2026-11-24T00:00:00.000Z');
        const again = enrollAs(store, { ...DEVICE, publicKey: 'n'.repeat(43) }, '2026-11-24T01:00:00.000Z');
        expect(again).toMatchObject({
          ok: true,
          newEpoch: true,
          previousSchool: 'school-1',
          device: { epoch: 2 },
        });
        expect(store.getDevice('gate-01')).toMatchObject({ epoch: 2, publicKey: 'n'.repeat(43) });
        expect(store.getDevice('gate-01')?.revokedAt).toBeUndefined();
        // Its births count from 1 again: the old key's bdSeq is forgotten, so they are taken.
        expect(store.getDevice('gate-01')?.presence).toBeUndefined();
        expect(
          store.recordPresence('gate-01', { online: true, bdSeq: 1, at: '2026-11-24T01:00:01.000Z' }),
        ).toBe(true);
        expect(store.cursor('gate-01')).toEqual({ seq: 0, hash: GENESIS_HASH });
        const second = chainedRecords('gate-01', 2);
        expect(store.commitRecords('gate-01', 'school-1', second)).toMatchObject({ seq: 2, inserted: 2 });
        const stored = store.queryEvents({ device: 'gate-01', limit: 10 });
        expect(stored.map((e) => [e.epoch, e.record.seq])).toEqual([
          [1, 1],
          [1, 2],
          [1, 3],
          [2, 1],
          [2, 2],
        ]);
        expect(stored.slice(3).map((e) => e.record)).toEqual(second);
      });

      it('keeps the epoch and the chain of a revoked id enrolled again with its own key', () => {
        enrollAs(store, DEVICE);
        store.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 3));
        const cursor = store.cursor('gate-01');
        store.revokeDevice('gate-01', '2026-11-24T00:00:00.000Z');
        expect(enrollAs(store, DEVICE, '2026-11-24T01:00:00.000Z')).toMatchObject({
          ok: true,
          newEpoch: false,
          device: { epoch: 1 },
        });
        expect(store.cursor('gate-01')).toEqual(cursor);
      });
    });

    describe('roster', () => {
      const card = {
        cardId: 'c-1',
        credential: { kind: 'uid', uid: '04A1B2C3' },
        personId: 'p1',
        role: 'student',
        school: 'school-1',
        status: 'active',
        validFrom: '2026-09-01T00:00:00.000Z',
        validUntil: '2027-07-01T00:00:00.000Z',
        zones: ['main-gate'],
        schedules: [],
      } satisfies CardEntry;
      const settings = {
        calendar: { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] },
        schedules: [],
      };
      const version = (school: string, n: number) => ({
        school,
        version: n,
        snapshotManifest: `{"v":${n}}`,
        snapshotBody: new Uint8Array([1, 2, n]),
        createdAt: '2026-11-23T00:00:00.000Z',
      });

      it('commits cards, settings and a version together, and reads them back', () => {
        store.commitRosters([
          { school: 'school-1', cards: [card], settings, version: version('school-1', 1) },
        ]);
        store.commitRosters([
          {
            school: 'school-1',
            cards: [{ ...card, status: 'lost' }],
            settings: undefined,
            version: { ...version('school-1', 2), deltaManifest: '{"v":2}', deltaBody: new Uint8Array([4]) },
          },
        ]);
        expect(store.rosterCards('school-1')).toEqual([{ ...card, status: 'lost' }]);
        expect(store.findCard('c-1')?.status).toBe('lost');
        expect(store.findCard('nope')).toBeUndefined();
        expect(store.rosterSettings('school-1')).toEqual(settings);
        expect(store.rosterSettings('school-2')).toBeUndefined();
        expect(store.latestRosterVersion('school-1')).toMatchObject({ version: 2, deltaManifest: '{"v":2}' });
        expect(store.rosterVersion('school-1', 1)).toEqual(version('school-1', 1));
        expect(store.rosterSchools()).toEqual(['school-1']);
      });

      it('thins the versions superseded before an instant to their manifests; the latest keeps its body', () => {
        const at = (n: number) => ({ createdAt: `2026-11-2${n}T00:00:00.000Z` });
        for (const n of [1, 2, 3])
          store.commitRosters([
            {
              school: 'school-1',
              cards: [card],
              settings: undefined,
              version: {
                ...version('school-1', n),
                ...at(n),
                deltaManifest: '{"d":1}',
                deltaBody: new Uint8Array([9]),
              },
            },
          ]);
        store.commitRosters([
          {
            school: 'school-2',
            cards: [],
            settings: undefined,
            version: { ...version('school-2', 1), ...at(1) },
          },
        ]);
        // Version 2 was superseded by version 3, published after the instant: a grant may still fetch it.
        expect(store.thinSupersededVersions('2026-11-23T00:00:00.000Z')).toEqual({
          rosters: 1,
          catalogues: 0,
        });
        expect(store.rosterVersion('school-1', 1)).toEqual({
          ...version('school-1', 1),
          ...at(1),
          snapshotBody: new Uint8Array(),
        });
        expect(store.rosterVersion('school-1', 2)?.snapshotBody).toEqual(new Uint8Array([1, 2, 2]));
        expect(store.thinSupersededVersions('2026-11-24T00:00:00.000Z')).toEqual({
          rosters: 1,
          catalogues: 0,
        });
        expect(store.rosterVersion('school-1', 2)?.deltaBody).toBeUndefined();
        expect(store.latestRosterVersion('school-1')).toMatchObject({ version: 3, deltaManifest: '{"d":1}' });
        expect(store.latestRosterVersion('school-1')?.snapshotBody).toEqual(new Uint8Array([1, 2, 3]));
        expect(store.rosterVersion('school-2', 1)?.snapshotBody).toEqual(new Uint8Array([1, 2, 1]));
        expect(store.thinSupersededVersions('2026-11-30T00:00:00.000Z')).toEqual({
          rosters: 0,
          catalogues: 0,
        });
      });

      it('keeps a transferred card on both rosters, and finds it where it is now', () => {
        store.commitRosters([
          { school: 'school-1', cards: [card], settings, version: version('school-1', 1) },
        ]);
        const left = { ...card, status: 'cancelled', statusReason: 'transferred' } satisfies CardEntry;
        const joined = { ...card, school: 'school-2', class: '4-1' } satisfies CardEntry;
        let alongside = 0;
        store.commitRosters(
          [
            { school: 'school-1', cards: [left], settings: undefined, version: version('school-1', 2) },
            { school: 'school-2', cards: [joined], settings, version: version('school-2', 1) },
          ],
          () => {
            alongside += 1;
          },
        );
        expect(alongside).toBe(1);
        expect(store.rosterCards('school-1')).toEqual([left]);
        expect(store.rosterCards('school-2')).toEqual([joined]);
        expect(store.findCard('c-1')).toEqual(joined);
        expect(store.personCards('p1')).toEqual([left, joined]);
        expect(store.personCards('p2')).toEqual([]);
        // And back: the first school's entry is the card again, the second's the transferred one.
        store.commitRosters([
          {
            school: 'school-2',
            cards: [{ ...joined, status: 'cancelled', statusReason: 'transferred' }],
            settings: undefined,
            version: version('school-2', 2),
          },
          { school: 'school-1', cards: [card], settings: undefined, version: version('school-1', 3) },
        ]);
        expect(store.findCard('c-1')).toEqual(card);
      });

      it('commits several schools with the caller’s writes, or nothing when any of it fails', () => {
        const failing = () =>
          store.commitRosters(
            [
              { school: 'school-1', cards: [card], settings, version: version('school-1', 1) },
              { school: 'school-2', cards: [], settings, version: version('school-2', 1) },
            ],
            () => {
              throw new Error('the caller’s write failed');
            },
          );
        expect(failing).toThrow('the caller’s write failed');
        expect(store.rosterSchools()).toEqual([]);
        expect(store.findCard('c-1')).toBeUndefined();
        expect(store.rosterSettings('school-1')).toBeUndefined();
      });
    });

    describe('catalogue', () => {
      it('commits versions and reads the latest, one, and the schools', () => {
        const version = {
          school: 'school-1',
          version: 1,
          manifest: '{"v":1}',
          body: new Uint8Array([1, 2, 3]),
          createdAt: '2026-11-23T00:00:00.000Z',
        };
        store.commitCatalogue(version);
        store.commitCatalogue({ ...version, version: 2, manifest: '{"v":2}' });
        expect(store.latestCatalogue('school-1')).toMatchObject({ version: 2, manifest: '{"v":2}' });
        expect(store.catalogueVersion('school-1', 1)).toEqual(version);
        expect(store.catalogueVersion('school-1', 3)).toBeUndefined();
        expect(store.latestCatalogue('school-2')).toBeUndefined();
        expect([store.latestCatalogueVersion('school-1'), store.latestCatalogueVersion('school-2')]).toEqual([
          2,
          undefined,
        ]);
        expect(store.catalogueSchools()).toEqual(['school-1']);
      });

      it('thins the versions superseded before an instant to their manifests', () => {
        const version = (n: number) => ({
          school: 'school-1',
          version: n,
          manifest: `{"v":${n}}`,
          body: new Uint8Array([n]),
          createdAt: `2026-11-2${n}T00:00:00.000Z`,
        });
        for (const n of [1, 2, 3]) store.commitCatalogue(version(n));
        expect(store.thinSupersededVersions('2026-11-23T00:00:00.000Z')).toEqual({
          rosters: 0,
          catalogues: 1,
        });
        expect(store.catalogueVersion('school-1', 1)).toEqual({ ...version(1), body: new Uint8Array() });
        expect(store.catalogueVersion('school-1', 2)).toEqual(version(2));
        expect(store.thinSupersededVersions('2026-11-30T00:00:00.000Z')).toEqual({
          rosters: 0,
          catalogues: 1,
        });
        expect(store.latestCatalogue('school-1')).toEqual(version(3));
      });
    });

    describe('loan ledger (the library module)', () => {
      let ledger: LoanLedger;
      beforeEach(() => {
        ledger = new LoanLedger(store);
      });
      const at = (day: number) => new Date(Date.UTC(2026, 10, day, 2)).toISOString();

      it('opens a loan at a checkout, moves it at a renewal and closes it at a return', () => {
        const desk = libraryRecords('lib-a', [
          ['library.checkout', at(1), lend('lib-a:t1', 'B1', 'p1')],
          ['library.checkout', at(1), lend('lib-a:t2', 'B2', 'p2')],
          [
            'library.renew',
            at(5),
            { loanId: 'lib-a:t1', itemId: 'B1', personId: 'p1', dueAt: at(20), renewals: 1 },
          ],
          ['library.return', at(6), { loanId: 'lib-a:t2', itemId: 'B2', personId: 'p2' }],
        ]);
        store.commitRecords('lib-a', 'school-1', desk);
        expect(ledger.loans('school-1', { open: true, limit: 10 })).toEqual([
          {
            school: 'school-1',
            loanId: 'lib-a:t1',
            itemId: 'B1',
            personId: 'p1',
            device: 'lib-a',
            station: 'desk-1',
            source: 'local',
            checkedOutAt: at(1),
            dueAt: at(20),
            renewals: 1,
          },
        ]);
        expect(ledger.loans('school-1', { limit: 10 }).map((l) => [l.loanId, l.returnedAt])).toEqual([
          ['lib-a:t1', undefined],
          ['lib-a:t2', at(6)],
        ]);
        expect(ledger.loans('school-1', { personId: 'p2', limit: 10 })).toHaveLength(1);
        expect(ledger.loans('school-1', { itemId: 'B1', limit: 10 })).toHaveLength(1);
        expect(ledger.loans('school-2', { limit: 10 })).toEqual([]);
        expect(ledger.loanConflicts('school-1')).toEqual([]);
        // The same batch again changes nothing.
        expect(store.commitRecords('lib-a', 'school-1', desk).inserted).toBe(0);
        expect(ledger.loans('school-1', { limit: 10 })).toHaveLength(2);
      });

      it('reports one item lent by two desks at once, whichever desk reports first', () => {
        const a = libraryRecords('lib-a', [['library.checkout', at(2), lend('lib-a:t1', 'B1', 'p1')]]);
        const b = libraryRecords('lib-b', [['library.checkout', at(3), lend('lib-b:t9', 'B1', 'p2')]]);
        store.commitRecords('lib-b', 'school-1', b);
        expect(ledger.loanConflicts('school-1')).toEqual([]);
        store.commitRecords('lib-a', 'school-1', a);
        const conflicts = ledger.loanConflicts('school-1');
        expect(conflicts).toHaveLength(1);
        expect(conflicts[0]).toMatchObject({
          school: 'school-1',
          itemId: 'B1',
          loanId: 'lib-a:t1',
          otherLoanId: 'lib-b:t9',
          at: at(3),
        });
        expect(conflicts[0]?.loans.map((l) => [l.loanId, l.device, l.personId])).toEqual([
          ['lib-a:t1', 'lib-a', 'p1'],
          ['lib-b:t9', 'lib-b', 'p2'],
        ]);
        // Both loans stay open until the copy comes back; the conflict stays reported.
        expect(ledger.loans('school-1', { open: true, limit: 10 })).toHaveLength(2);
        store.commitRecords(
          'lib-b',
          'school-1',
          libraryRecords('lib-b', [['library.return', at(4), { itemId: 'B1' }]], store.cursor('lib-b')),
        );
        expect(ledger.loans('school-1', { open: true, limit: 10 })).toEqual([]);
        expect(ledger.loanConflicts('school-1')).toHaveLength(1);
      });

      it('drops a conflict that a late return shows was none', () => {
        const b = libraryRecords('lib-b', [['library.checkout', at(5), lend('lib-b:t1', 'B1', 'p2')]]);
        const a = libraryRecords('lib-a', [
          ['library.checkout', at(2), lend('lib-a:t1', 'B1', 'p1')],
          ['library.return', at(3), { loanId: 'lib-a:t1', itemId: 'B1' }],
        ]);
        store.commitRecords('lib-b', 'school-1', b);
        store.commitRecords('lib-a', 'school-1', a.slice(0, 1));
        expect(ledger.loanConflicts('school-1')).toHaveLength(1);
        store.commitRecords('lib-a', 'school-1', a.slice(1));
        expect(ledger.loanConflicts('school-1')).toEqual([]);
        expect(ledger.loans('school-1', { open: true, limit: 10 }).map((l) => l.loanId)).toEqual([
          'lib-b:t1',
        ]);
      });
    });

    describe('leases (the leases module)', () => {
      /** Takes the lease for `holder` as soon as the database's clock has passed its expiry. */
      const takeOnExpiry = async (table: LeaseTable, name: string, holder: string) => {
        while (table.take(name, holder, 60_000) === undefined)
          await new Promise((resolve) => setTimeout(resolve, 20));
      };

      it('gives a lease to one holder at a time, renews it in its term, and hands it on at expiry or release', async () => {
        const table = new LeaseTable(store.database);
        const first = table.take('central.outbox', 'bridge-a', 60_000);
        expect(first).toMatchObject({ holder: 'bridge-a', term: 1 });
        expect(table.take('central.outbox', 'bridge-b', 60_000)).toBeUndefined();
        expect(table.take('central.outbox', 'bridge-a', 60_000)).toMatchObject({
          holder: 'bridge-a',
          term: 1,
        });
        expect(table.take('central.feed', 'bridge-b', 60_000)).toMatchObject({ holder: 'bridge-b', term: 1 });

        table.release('central.outbox', 'bridge-b');
        expect(table.get('central.outbox')?.holder).toBe('bridge-a');
        table.release('central.outbox', 'bridge-a');
        expect(table.take('central.outbox', 'bridge-b', 60_000)).toMatchObject({
          holder: 'bridge-b',
          term: 1,
        });

        expect(table.take('notices', 'bridge-a', 30)).toMatchObject({ term: 1 });
        await takeOnExpiry(table, 'notices', 'bridge-c');
        expect(table.get('notices')).toMatchObject({ holder: 'bridge-c', term: 2 });
        expect(table.take('notices', 'bridge-b', 60_000)).toBeUndefined();
      });
    });

    if (reopen) {
      it('keeps what it committed across a close and reopen', async () => {
        const records = chainedRecords('gate-01', 5);
        enrollAs(store, DEVICE);
        store.commitRecords('gate-01', 'school-1', records);
        store.recordPresence('gate-01', { online: true, bdSeq: 3, at: '2026-11-23T08:00:00.000Z' });
        const [token] = store.createTokens('school-1', 1, '2026-12-01T00:00:00.000Z') as [string];
        store.close();
        store = await reopen();
        expect(store.cursor('gate-01')).toEqual({ seq: 5, hash: records[4]?.hash });
        expect(store.queryEvents({ limit: 10 }).map((e) => e.record)).toEqual(records);
        expect(store.getDevice('gate-01')?.presence?.bdSeq).toBe(3);
        expect(store.tokenGrant(token, '2026-11-23T00:00:00.000Z')).toEqual({ school: 'school-1' });
        // The chain goes on from where it stopped.
        const more = chainedRecords('gate-01', 2, store.cursor('gate-01'));
        expect(store.commitRecords('gate-01', 'school-1', more)).toMatchObject({ seq: 7, inserted: 2 });
      });
    }
  });
}
