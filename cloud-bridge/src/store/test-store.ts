import { randomBytes } from 'node:crypto';
import { openPostgresConnection, withSearchPath } from './pg-connection.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { BridgeStore } from './types.js';

/**
 * The backend a test's store runs on. The `postgres` test project (vitest.config.ts) sets
 * EDUCARD_TEST_STORE=postgres and its global set-up starts one PostgreSQL for the run, whose URL it
 * puts in EDUCARD_TEST_POSTGRES_URL; every other run keeps SQLite.
 */
export function testStoreBackend(): 'sqlite' | 'postgres' {
  return process.env.EDUCARD_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';
}

const schemas = new Map<string, string>();

/**
 * The PostgreSQL URL standing for the SQLite file `file` in a test on PostgreSQL: a fresh schema the
 * first time a file is named, the same one again after (a test that closes its store and opens it
 * again must find its rows), so tests sharing the server never share rows.
 */
export function testStoreUrl(file: string): string {
  const base = process.env.EDUCARD_TEST_POSTGRES_URL;
  if (!base)
    throw new Error(
      'EDUCARD_TEST_STORE=postgres without EDUCARD_TEST_POSTGRES_URL: run the postgres test project',
    );
  const known = schemas.get(file);
  if (known) return known;
  const schema = `t_${randomBytes(8).toString('hex')}`;
  const db = openPostgresConnection(base);
  try {
    db.exec(`CREATE SCHEMA ${schema}`);
  } finally {
    db.close();
  }
  const url = withSearchPath(base, schema);
  schemas.set(file, url);
  return url;
}

/** A store for a test: SQLite in `file`, or a schema of the run's PostgreSQL standing for it. */
export function openTestStore(file: string): BridgeStore {
  return testStoreBackend() === 'postgres' ? openPostgresStore(testStoreUrl(file)) : openSqliteStore(file);
}

/** What a test bridge's configuration adds for the run's backend: nothing on SQLite, `store.url` on PostgreSQL. */
export function testStoreConfig(dataDir: string): { store?: { url: string } } {
  return testStoreBackend() === 'postgres' ? { store: { url: testStoreUrl(`${dataDir}/bridge.db`) } } : {};
}
