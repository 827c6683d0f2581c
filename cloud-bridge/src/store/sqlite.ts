import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { startCheckpointer } from './checkpointer.js';
import { MIGRATIONS } from './migrations.js';
import { sqliteDatabase } from './sql.js';
import { openSqlStore } from './sql-store.js';
import type { BridgeStore } from './types.js';

/** SQLite's default threshold, used when the checkpoint worker is not there. */
const AUTOCHECKPOINT_PAGES = 1000;

/** The SQLite store; `pragma` reads a setting of its connection (for checks and diagnostics). */
export interface SqliteBridgeStore extends BridgeStore {
  pragma(name: string): unknown;
}

/** Runs the core steps not yet run. */
function migrate(db: Database.Database): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening one file
  // cannot both run a step.
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `database schema ${version} is newer than this bridge knows (${MIGRATIONS.length}): upgrade the bridge`,
      );
    }
    if (version === MIGRATIONS.length) return;
    for (let step = version; step < MIGRATIONS.length; step++) db.exec(MIGRATIONS[step] as string);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

/**
 * The embedded store: SQLite through better-sqlite3, WAL with synchronous=FULL, so a commit the bridge
 * acknowledges has reached the disk.
 */
export function openSqliteStore(path: string, options: { logger?: Logger } = {}): SqliteBridgeStore {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  try {
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  db.pragma('wal_autocheckpoint = 0');
  const checkpointer = startCheckpointer(path, {
    failing: (reason) => {
      options.logger?.error({ reason }, 'WAL checkpoints fall back to the committing thread');
      if (db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    },
    recovered: () => {
      options.logger?.info('WAL checkpoints work again on their thread');
      if (db.open) db.pragma('wal_autocheckpoint = 0');
    },
  });
  const store = openSqlStore(sqliteDatabase(db), () => {
    checkpointer.stop().catch(() => undefined);
    db.close();
  });
  return {
    ...store,
    pragma(name: string): unknown {
      if (!/^[a-z_]+$/.test(name)) throw new Error(`not a pragma name: ${name}`);
      return db.pragma(name, { simple: true });
    },
  };
}
