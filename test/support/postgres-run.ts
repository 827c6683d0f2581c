import { type Postgres, startPostgres } from '@educard/scripts/support';

/**
 * The postgres test project's global set-up: one PostgreSQL for the run, as a child process with a
 * throwaway data directory; its workers find it in EDUCARD_TEST_POSTGRES_URL and give each store a
 * schema of its own (cloud-bridge/src/store/test-store.ts).
 */
export default async function setup(): Promise<() => Promise<void>> {
  const postgres: Postgres = await startPostgres();
  process.env.EDUCARD_TEST_POSTGRES_URL = postgres.url;
  return () => postgres.stop();
}
