import { openPostgresStore } from '@educard/cloud-bridge';
import { chainedRecords, describeStoreConformance } from '@educard/cloud-bridge/store-conformance';
import { type Postgres, startPostgres } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let postgres: Postgres;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

let schemas = 0;
let current = '';

describeStoreConformance(
  'PostgreSQL',
  () => {
    current = postgres.createSchema(`conformance_${++schemas}`);
    return openPostgresStore(current);
  },
  () => openPostgresStore(current),
);

describe('PostgreSQL store through a server crash', () => {
  it('refuses commits while the server is down, keeps what it acknowledged, and reconnects after', async () => {
    const store = openPostgresStore(postgres.createSchema('crash'));
    try {
      const records = chainedRecords('gate-01', 6);
      expect(store.commitRecords('gate-01', 'school-1', records.slice(0, 3))).toMatchObject({ seq: 3 });
      await postgres.kill();
      expect(() => store.commitRecords('gate-01', 'school-1', records.slice(3))).toThrow();
      expect(() => store.cursor('gate-01')).toThrow();
      await postgres.start();
      // The next call finds the connection broken and makes it again: the batch is sent again, as
      // a device resends what was not acknowledged.
      expect(store.commitRecords('gate-01', 'school-1', records)).toMatchObject({ seq: 6, inserted: 3 });
      expect(store.queryEvents({ limit: 10 }).map((e) => e.record.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      store.close();
    }
  });
});
