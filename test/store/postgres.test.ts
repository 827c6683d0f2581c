import { openPostgresStore } from '@educard/cloud-bridge';
import { describeStoreConformance } from '@educard/cloud-bridge/store-conformance';
import { type Postgres, startPostgres } from '@educard/scripts/support';
import { afterAll, beforeAll } from 'vitest';

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
