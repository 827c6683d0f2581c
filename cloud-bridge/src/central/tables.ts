import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

/**
 * The central connector's tables. The outbox names each event by its id in the store's `events`
 * table, which holds the record: nothing is pushed that is not stored, and nothing is stored twice.
 */
const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE central_state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE central_outbox (
     event_id INTEGER PRIMARY KEY,
     device TEXT NOT NULL,
     seq INTEGER NOT NULL,
     school TEXT NOT NULL,
     at TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     last_error TEXT
   );
   CREATE INDEX central_outbox_device ON central_outbox (device, event_id);
   CREATE INDEX central_outbox_held ON central_outbox (device) WHERE attempts > 0;
   CREATE TABLE central_dead_letters (
     event_id INTEGER PRIMARY KEY,
     device TEXT NOT NULL,
     seq INTEGER NOT NULL,
     school TEXT NOT NULL,
     at TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     reason TEXT NOT NULL,
     dead_at TEXT NOT NULL
   );
   CREATE TABLE central_feed_problems (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     cursor TEXT NOT NULL,
     change_id TEXT NOT NULL,
     kind TEXT NOT NULL,
     record_id TEXT,
     problem TEXT NOT NULL,
     reported INTEGER NOT NULL DEFAULT 0
   );`,
  ],
  postgres: [
    `CREATE TABLE central_state (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
     CREATE TABLE central_outbox (
       event_id BIGINT PRIMARY KEY,
       device TEXT COLLATE "C" NOT NULL,
       seq BIGINT NOT NULL,
       school TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       attempts INTEGER NOT NULL DEFAULT 0,
       last_error TEXT
     );
     CREATE INDEX central_outbox_device ON central_outbox (device, event_id);
     CREATE INDEX central_outbox_held ON central_outbox (device) WHERE attempts > 0;
     CREATE TABLE central_dead_letters (
       event_id BIGINT PRIMARY KEY,
       device TEXT COLLATE "C" NOT NULL,
       seq BIGINT NOT NULL,
       school TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       attempts INTEGER NOT NULL,
       reason TEXT NOT NULL,
       dead_at TEXT COLLATE "C" NOT NULL
     );
     CREATE TABLE central_feed_problems (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       at TEXT COLLATE "C" NOT NULL,
       cursor TEXT COLLATE "C" NOT NULL,
       change_id TEXT COLLATE "C" NOT NULL,
       kind TEXT NOT NULL,
       record_id TEXT,
       problem TEXT NOT NULL,
       reported INTEGER NOT NULL DEFAULT 0
     );`,
  ],
};

/** Small named values of the connector (cursors, counters, last errors), in the bridge's database. */
export class CentralState {
  private readonly statements;

  constructor(readonly db: SqlDatabase) {
    migrateModule(db, 'central', STEPS);
    this.statements = {
      get: db.prepare<[string], { value: string }>('SELECT value FROM central_state WHERE key = ?'),
      set: db.prepare(
        'INSERT INTO central_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ),
      remove: db.prepare('DELETE FROM central_state WHERE key = ?'),
    };
  }

  get(key: string): string | undefined {
    return this.statements.get.get(key)?.value;
  }

  set(key: string, value: string | number | undefined): void {
    if (value === undefined) this.statements.remove.run(key);
    else this.statements.set.run(key, String(value));
  }

  number(key: string): number {
    return Number(this.get(key) ?? 0);
  }
}
