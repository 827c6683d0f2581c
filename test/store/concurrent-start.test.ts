import { openPostgresConnection } from '@educard/cloud-bridge';
import { type Postgres, startLeaseHolder, startPostgres } from '@educard/scripts/support';
import { afterAll, beforeAll, expect, it } from 'vitest';

let postgres: Postgres;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

it('opens a new database from several instances started at once, each creating the tables it needs', async () => {
  // Instances started together all create their tables on a schema none has seen. The race between
  // their CREATEs is narrow, so it is made certain: a creation left open here holds them all at the
  // same point, and is rolled back once all four are waiting, which lets them go at once.
  const url = postgres.createSchema('together');
  const creating = openPostgresConnection(url);
  const watching = openPostgresConnection(url);
  // Held open for as long as the instances take to start (seconds under a loaded machine): longer
  // than the server lets a bridge session sit idle in a transaction (IDLE_IN_TRANSACTION_MS), which
  // would end it and let the instances through one by one.
  creating.exec('SET idle_in_transaction_session_timeout = 0');
  creating.exec('BEGIN');
  creating.exec('CREATE TABLE module_schema (module TEXT PRIMARY KEY, version INTEGER NOT NULL)');
  const holders = ['a', 'b', 'c', 'd'].map((name) => startLeaseHolder(url, 'central.outbox', name, 3000));
  try {
    const waiting = () =>
      watching
        .prepare<[], { n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        )
        .get()?.n;
    await expect.poll(waiting, { timeout: 30_000, interval: 100 }).toBe(holders.length);
    creating.exec('ROLLBACK');
    const started = await Promise.allSettled(holders.map((h) => h.running));
    expect(started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []))).toEqual([]);
  } finally {
    await Promise.all(holders.map((h) => h.kill('SIGKILL')));
    creating.close();
    watching.close();
  }
}, 90_000);
