import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainedRecords } from '@educard/cloud-bridge/store-conformance';
import { openTestStore, testStoreBackend } from '@educard/cloud-bridge/test-store';
import { expect, it } from 'vitest';

// Runs in both projects: on SQLite in the parallel one, on PostgreSQL in the postgres one.
it('opens the run backend, keeps a store across a reopen and keeps two stores apart', () => {
  expect(testStoreBackend()).toBe(process.env.EDUCARD_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite');
  const dir = mkdtempSync(join(tmpdir(), 'test-store-'));
  const first = openTestStore(join(dir, 'one.db'));
  expect(first.database.dialect).toBe(testStoreBackend());
  first.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 3));
  first.close();
  const again = openTestStore(join(dir, 'one.db'));
  const other = openTestStore(join(dir, 'two.db'));
  try {
    expect(again.cursor('gate-01')).toMatchObject({ seq: 3 });
    expect(other.cursor('gate-01')).toMatchObject({ seq: 0 });
  } finally {
    again.close();
    other.close();
  }
});
