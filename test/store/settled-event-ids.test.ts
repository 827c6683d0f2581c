import { type BridgeStore, openPostgresStore } from '@educard/cloud-bridge';
import { type Postgres, startPostgres } from '@educard/scripts/support';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Two bridge instances on one PostgreSQL: each commits on its own connection, so an event id taken
// by one transaction can become visible after a higher id another committed first.
let postgres: Postgres;
const stores: BridgeStore[] = [];

beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  for (const store of stores) store.close();
  await postgres?.stop();
});

const taps = (device: string, count: number) =>
  chainRecords(
    device,
    Array.from({ length: count }, (_, i) => ({
      type: 'gate.decision',
      at: new Date(Date.now() + i * 1000).toISOString(),
      data: gateDecisionData({ personId: `p-${device}-${i}` }),
    })),
  );

/** A reader that follows event ids with a cursor, as the file export and the notice ledger do. */
function follow(store: BridgeStore, cursor: { at: number }): number[] {
  const events = store.queryEvents({ afterId: cursor.at, throughId: store.settledEventId(), limit: 1000 });
  cursor.at = events.at(-1)?.id ?? cursor.at;
  return events.map((event) => event.id);
}

describe('settled event ids on PostgreSQL', () => {
  it('keep a cursor short of an id another connection has taken but not committed, so it skips none', () => {
    const url = postgres.createSchema('two_instances');
    const first = openPostgresStore(url);
    const second = openPostgresStore(url);
    stores.push(first, second);
    const cursor = { at: 0 };
    const read: number[] = [];
    const fromB = taps('gate-b', 5);

    first.database.transaction(() => {
      first.commitRecords('gate-a', 'school-1', taps('gate-a', 3));
      // Committed while the first's lower ids are still open: a cursor over ids alone goes past them.
      second.commitRecords('gate-b', 'school-1', fromB.slice(0, 3));
      const visible = second.queryEvents({ afterId: 0, limit: 1000 }).map((event) => event.id);
      expect(visible).toHaveLength(3);
      expect(Math.min(...visible)).toBeGreaterThan(3);
      read.push(...follow(second, cursor));
      expect(read).toEqual([]);
    })();

    read.push(...follow(second, cursor));
    expect(read).toEqual([1, 2, 3, 4, 5, 6]);
    second.commitRecords('gate-b', 'school-1', fromB.slice(3));
    read.push(...follow(second, cursor));
    expect(read).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('are not held back by writers on another schema of the same server', () => {
    const mine = openPostgresStore(postgres.createSchema('mine'));
    const other = openPostgresStore(postgres.createSchema('other'));
    stores.push(mine, other);
    mine.commitRecords('gate-a', 'school-1', taps('gate-a', 2));
    other.database.transaction(() => {
      other.commitRecords('gate-x', 'school-9', taps('gate-x', 2));
      expect(follow(mine, { at: 0 })).toEqual([1, 2]);
    })();
  });
});
