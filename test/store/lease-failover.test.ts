import { measureLeaseFailover, type Postgres, startPostgres } from '@educard/scripts/support';
import { afterAll, beforeAll, expect, it } from 'vitest';

let postgres: Postgres;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

it('hands a lease to the other instance after kill -9 of its holder, never to both at once', async () => {
  // Real processes on one PostgreSQL: the holder dies without releasing, so its lease must expire.
  const result = await measureLeaseFailover(postgres.createSchema('failover'), { ttlMs: 3000 });
  // The other took it, after the kill (measureLeaseFailover refuses a second holder before it); how
  // soon is the bench's figure (scale.failover_s).
  expect(result.second).not.toBe(result.first);
  expect(result.failoverMs).toBeGreaterThan(0);
});
