import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeHotlist,
  HOTLIST_HEADER_BYTES,
  type HotlistChange,
  HotlistFormatError,
  type HotlistStatus,
  HotlistTable,
  hotlistEntries,
  hotlistKey,
  parseHotlistHeader,
} from './index.js';

const HASH_KEY = Buffer.alloc(16, 7);
const card = (n: number) => `E${String(n).padStart(9, '0')}`;

function snapshot(version: number, cards: Map<string, HotlistStatus>, hashKey = HASH_KEY): Buffer {
  const entries = hotlistEntries(
    hashKey,
    [...cards].map(([cardNumber, status]) => ({ cardNumber, status })),
  );
  return encodeHotlist({ kind: 'snapshot', version, hashKey }, entries);
}

function delta(fromVersion: number, version: number, changes: Map<string, HotlistChange>): Buffer {
  const entries = hotlistEntries(
    HASH_KEY,
    [...changes].map(([cardNumber, status]) => ({ cardNumber, status })),
  );
  return encodeHotlist({ kind: 'delta', version, fromVersion, hashKey: HASH_KEY }, entries);
}

const expectFormatError = (run: () => unknown, message: RegExp) => {
  expect(run).toThrow(HotlistFormatError);
  expect(run).toThrow(message);
};

describe('the hotlist body', () => {
  it('is a 40-byte header and 9 bytes a card, found by its keyed hash', () => {
    const body = snapshot(
      3,
      new Map([
        [card(1), 'lost'],
        [card(2), 'cancelled'],
        [card(3), 'suspended'],
      ]),
    );
    expect(body.length).toBe(HOTLIST_HEADER_BYTES + 3 * 9);
    expect(body.subarray(0, 4).toString('ascii')).toBe('EDHL');
    expect(parseHotlistHeader(body)).toMatchObject({
      kind: 'snapshot',
      version: 3,
      fromVersion: 0,
      count: 3,
    });
    const table = HotlistTable.fromSnapshot(body);
    expect([1, 2, 3, 4].map((n) => table.lookup(card(n)))).toEqual([
      'lost',
      'cancelled',
      'suspended',
      undefined,
    ]);
    // The key is the documented one: HMAC-SHA-256 over the card number, its first 8 bytes.
    const keys = Array.from({ length: 3 }, (_, i) => body.subarray(40 + i * 9, 48 + i * 9).toString('hex'));
    expect(keys).toContain(hotlistKey(HASH_KEY, card(2)).toString('hex'));
    expect(hotlistKey(HASH_KEY, card(2)).toString('hex')).toHaveLength(16);
  });

  it('keeps the stronger reason when a card is given twice', () => {
    const entries = hotlistEntries(HASH_KEY, [
      { cardNumber: card(1), status: 'suspended' },
      { cardNumber: card(1), status: 'cancelled' },
      { cardNumber: card(1), status: 'lost' },
    ]);
    expect(entries.map((e) => e.status)).toEqual(['cancelled']);
  });

  it('refuses a body that is not one, whole and in order', () => {
    const body = snapshot(
      2,
      new Map([
        [card(1), 'lost'],
        [card(2), 'lost'],
      ]),
    );
    expectFormatError(() => HotlistTable.fromSnapshot(Buffer.from('{"not":"binary"}')), /no EDHL header/);
    expectFormatError(() => HotlistTable.fromSnapshot(body.subarray(0, body.length - 1)), /the body is/);
    const format2 = Buffer.from(body);
    format2[4] = 2;
    expectFormatError(() => HotlistTable.fromSnapshot(format2), /format 2 unknown/);
    const swapped = Buffer.from(body);
    body.copy(swapped, 40, 49, 58);
    body.copy(swapped, 49, 40, 49);
    expectFormatError(() => HotlistTable.fromSnapshot(swapped), /must go up by key/);
    const badStatus = Buffer.from(body);
    badStatus[48] = 9;
    expectFormatError(() => HotlistTable.fromSnapshot(badStatus), /status 9/);
    const removal = Buffer.from(body);
    removal[48] = 0;
    expectFormatError(() => HotlistTable.fromSnapshot(removal), /status 0, which a snapshot cannot hold/);
    expectFormatError(() => HotlistTable.fromSnapshot(delta(2, 3, new Map())), /not a hotlist on its own/);
  });

  it('applies a delta into a new table and leaves the old one whole', () => {
    const v1 = HotlistTable.fromSnapshot(
      snapshot(
        1,
        new Map([
          [card(1), 'lost'],
          [card(2), 'lost'],
        ]),
      ),
    );
    const v2 = v1.applyDelta(
      delta(
        1,
        2,
        new Map<string, HotlistChange>([
          [card(1), 'removed'],
          [card(2), 'cancelled'],
          [card(5), 'lost'],
        ]),
      ),
    );
    expect([1, 2, 5].map((n) => v2.lookup(card(n)))).toEqual([undefined, 'cancelled', 'lost']);
    expect([1, 2, 5].map((n) => v1.lookup(card(n)))).toEqual(['lost', 'lost', undefined]);
    expect(v2.size).toBe(2);
    expect(HotlistTable.fromSnapshot(v2.toSnapshot()).lookup(card(5))).toBe('lost');
    expect(parseHotlistHeader(v2.toSnapshot())).toMatchObject({ kind: 'snapshot', version: 2, count: 2 });
    expectFormatError(() => v2.applyDelta(delta(1, 3, new Map())), /does not follow 2/);
    expectFormatError(
      () => v2.applyDelta(delta(2, 3, new Map<string, HotlistChange>([[card(9), 'removed']]))),
      /removes a card the list does not hold/,
    );
    const otherKey = encodeHotlist(
      { kind: 'delta', version: 3, fromVersion: 2, hashKey: Buffer.alloc(16, 1) },
      [],
    );
    expectFormatError(() => v2.applyDelta(otherKey), /hash key is not its snapshot's/);
  });

  it('agrees with a plain map through any run of deltas', () => {
    const change = fc.tuple(
      fc.integer({ min: 0, max: 300 }),
      fc.constantFrom<HotlistChange>('lost', 'cancelled', 'suspended', 'removed'),
    );
    fc.assert(
      fc.property(
        fc.array(change, { maxLength: 60 }),
        fc.array(fc.array(change, { maxLength: 40 }), { maxLength: 8 }),
        (first, rounds) => {
          const model = new Map<string, HotlistStatus>();
          for (const [n, status] of first) if (status !== 'removed') model.set(card(n), status);
          let table = HotlistTable.fromSnapshot(snapshot(1, model));
          let version = 1;
          for (const round of rounds) {
            const changes = new Map<string, HotlistChange>();
            for (const [n, status] of round) changes.set(card(n), status);
            // A removal only of what the list holds, as the bridge makes deltas.
            for (const [cardNumber, status] of changes) {
              if (status === 'removed' && !model.has(cardNumber)) changes.delete(cardNumber);
            }
            for (const [cardNumber, status] of changes) {
              if (status === 'removed') model.delete(cardNumber);
              else model.set(cardNumber, status);
            }
            table = table.applyDelta(delta(version, version + 1, changes));
            version += 1;
          }
          expect(table.size).toBe(model.size);
          for (let n = 0; n <= 300; n++) expect(table.lookup(card(n))).toBe(model.get(card(n)));
        },
      ),
      { numRuns: 60 },
    );
  });
});
