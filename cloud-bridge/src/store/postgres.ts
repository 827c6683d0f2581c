import { openPostgresConnection, type PostgresSessionOptions } from './pg-connection.js';
import { POSTGRES_STEPS } from './pg-schema.js';
import { migrateModule } from './sql.js';
import { openSqlStore } from './sql-store.js';
import type { BridgeStore } from './types.js';

/**
 * The store on PostgreSQL (`store.url: postgres://…` in the bridge's configuration): the same
 * statements as on SQLite over one libpq connection, the core tables migrated as the `store` module.
 * Several bridge processes may open one database: a commit takes a per-device advisory lock, and the
 * unique key (device, epoch, seq) keeps each record once whichever instance stores it.
 */
export function openPostgresStore(url: string, options: PostgresSessionOptions = {}): BridgeStore {
  const db = openPostgresConnection(url, options);
  try {
    // SQLite counts its core steps in user_version (migrations.ts), from before modules had theirs.
    migrateModule(db, 'store', { sqlite: [], postgres: POSTGRES_STEPS });
  } catch (error) {
    db.close();
    throw error;
  }
  return openSqlStore(db, () => db.close());
}
