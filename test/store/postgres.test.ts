import { spawn } from 'node:child_process';
import {
  type BridgeStore,
  IDLE_IN_TRANSACTION_MS,
  LOCK_WAIT_MS,
  openPostgresConnection,
  openPostgresStore,
  PostgresError,
} from '@educard/cloud-bridge';
import { chainedRecords, describeStoreConformance } from '@educard/cloud-bridge/store-conformance';
import { POSTGRES_BIN, type Postgres, startPostgres } from '@educard/scripts/support';
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

const WATCHDOG_S = 30;

/**
 * Another session holding `device`'s commit lock (the advisory lock a commit takes), inside a
 * transaction it then leaves open, as an instance that froze or lost the network mid-commit.
 * `foreign`: a session that is not the bridge's (an operator's psql), without its settings.
 */
function holdDeviceLock(url: string, device: string, foreign: boolean) {
  const session = openPostgresConnection(url);
  if (foreign) session.exec('SET idle_in_transaction_session_timeout = 0; SET lock_timeout = 0');
  const pid = session.prepare<[], { pid: number }>('SELECT pg_backend_pid() AS pid').get()?.pid;
  session.exec('BEGIN');
  session.prepare('SELECT pg_advisory_xact_lock(hashtext(?)) AS locked').get(device);
  // A commit blocked on the lock blocks this thread too, past any test timeout: should the bounds
  // fail, this ends the session after WATCHDOG_S from outside, so the test fails instead of hanging.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `sleep ${WATCHDOG_S}; exec ${POSTGRES_BIN}/psql -qAt -d "$URL" -c "SELECT pg_terminate_backend(${pid})"`,
    ],
    { detached: true, stdio: 'ignore', env: { ...process.env, URL: url } },
  );
  return {
    session,
    close() {
      if (watchdog.pid) process.kill(-watchdog.pid, 'SIGKILL');
      session.close();
    },
  };
}

/** How long `work` held this thread (the store's statements block it, as they block a bridge's loop). */
function timed<T>(work: () => T): { ms: number; outcome: T | Error } {
  const started = performance.now();
  let outcome: T | Error;
  try {
    outcome = work();
  } catch (error) {
    outcome = error as Error;
  }
  return { ms: performance.now() - started, outcome };
}

/** `check` with a store on a fresh schema, and `device`'s lock held by another session (holdDeviceLock). */
function withLockHeld(
  schema: string,
  device: string,
  foreign: boolean,
  check: (store: BridgeStore, holder: ReturnType<typeof holdDeviceLock>) => void,
): void {
  const url = postgres.createSchema(schema);
  const store = openPostgresStore(url);
  const holder = holdDeviceLock(url, device, foreign);
  try {
    check(store, holder);
  } finally {
    holder.close();
    store.close();
  }
}

describe('PostgreSQL store and a lock held by a session that stopped', () => {
  it('waits out a bridge session frozen inside a transaction: the server ends it, its locks go with it', () =>
    withLockHeld('frozen_holder', 'gate-01', false, (store, frozen) => {
      const records = chainedRecords('gate-01', 3);
      const { ms, outcome } = timed(() => store.commitRecords('gate-01', 'school-1', records));
      expect(outcome).toMatchObject({ seq: 3, inserted: 3 });
      expect(ms).toBeGreaterThanOrEqual(IDLE_IN_TRANSACTION_MS - 500);
      expect(ms).toBeLessThan(LOCK_WAIT_MS);
      // The frozen instance, when it wakes, finds its session ended: what it was doing is not stored.
      expect(() => frozen.session.exec('COMMIT')).toThrow();
      expect(store.queryEvents({ limit: 10 }).map((e) => e.record.seq)).toEqual([1, 2, 3]);
    }));

  it('fails a commit after LOCK_WAIT_MS behind a lock held without end, and goes on with the others', () =>
    withLockHeld('held_lock', 'gate-02', true, (store, operator) => {
      const records = chainedRecords('gate-02', 2);
      const { ms, outcome } = timed(() => store.commitRecords('gate-02', 'school-1', records));
      expect(outcome).toBeInstanceOf(PostgresError);
      expect(outcome).toMatchObject({ sqlState: '55P03' });
      expect(ms).toBeGreaterThanOrEqual(LOCK_WAIT_MS - 500);
      expect(ms).toBeLessThan(LOCK_WAIT_MS + 5000);
      // Nothing of it was stored, and another device commits at once.
      expect(store.cursor('gate-02').seq).toBe(0);
      expect(store.commitRecords('gate-03', 'school-1', chainedRecords('gate-03', 1))).toMatchObject({
        seq: 1,
      });
      operator.session.exec('ROLLBACK');
      expect(store.commitRecords('gate-02', 'school-1', records)).toMatchObject({ seq: 2, inserted: 2 });
    }));
});
