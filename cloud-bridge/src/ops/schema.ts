import type { ModuleSteps } from '../store/index.js';

/** The operations module's tables (module `ops` in module_schema). Never edit a step: add one. */
export const OPS_STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE ops_alarms (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     kind TEXT NOT NULL,
     device TEXT NOT NULL DEFAULT '',
     school TEXT NOT NULL DEFAULT '',
     message TEXT NOT NULL,
     raised_at TEXT NOT NULL,
     last_at TEXT NOT NULL,
     count INTEGER NOT NULL,
     acked_at TEXT,
     acked_by TEXT,
     cleared_at TEXT,
     cleared_by TEXT
   );
   CREATE UNIQUE INDEX ops_alarms_open ON ops_alarms (kind, device, school) WHERE cleared_at IS NULL;
   CREATE INDEX ops_alarms_school ON ops_alarms (school, id);
   CREATE TABLE ops_roster_applied (
     device TEXT NOT NULL,
     version INTEGER NOT NULL,
     at TEXT NOT NULL,
     PRIMARY KEY (device, version)
   );
   CREATE TABLE ops_card_changes (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     card_id TEXT NOT NULL,
     school TEXT NOT NULL,
     person_id TEXT NOT NULL,
     status TEXT NOT NULL,
     version INTEGER NOT NULL,
     at TEXT NOT NULL,
     actor TEXT NOT NULL
   );
   CREATE INDEX ops_card_changes_card ON ops_card_changes (card_id, id);`,
    // Bound readers a device has reported unplugged and not yet back: its reader alarm clears when none is left.
    `CREATE TABLE ops_missing_readers (
     device TEXT NOT NULL,
     reader TEXT NOT NULL,
     since TEXT NOT NULL,
     PRIMARY KEY (device, reader)
   );`,
    // The retention purge forgets cleared alarms by age (Alarms.forgetClearedBefore).
    'CREATE INDEX ops_alarms_cleared ON ops_alarms (cleared_at) WHERE cleared_at IS NOT NULL;',
  ],
  postgres: [
    `CREATE TABLE ops_alarms (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       kind TEXT COLLATE "C" NOT NULL,
       device TEXT COLLATE "C" NOT NULL DEFAULT '',
       school TEXT COLLATE "C" NOT NULL DEFAULT '',
       message TEXT NOT NULL,
       raised_at TEXT COLLATE "C" NOT NULL,
       last_at TEXT COLLATE "C" NOT NULL,
       count INTEGER NOT NULL,
       acked_at TEXT COLLATE "C",
       acked_by TEXT,
       cleared_at TEXT COLLATE "C",
       cleared_by TEXT
     );
     CREATE UNIQUE INDEX ops_alarms_open ON ops_alarms (kind, device, school) WHERE cleared_at IS NULL;
     CREATE INDEX ops_alarms_school ON ops_alarms (school, id);
     CREATE TABLE ops_roster_applied (
       device TEXT COLLATE "C" NOT NULL,
       version INTEGER NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (device, version)
     );
     CREATE TABLE ops_card_changes (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       card_id TEXT COLLATE "C" NOT NULL,
       school TEXT COLLATE "C" NOT NULL,
       person_id TEXT COLLATE "C" NOT NULL,
       status TEXT NOT NULL,
       version INTEGER NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       actor TEXT NOT NULL
     );
     CREATE INDEX ops_card_changes_card ON ops_card_changes (card_id, id);`,
    `CREATE TABLE ops_missing_readers (
       device TEXT COLLATE "C" NOT NULL,
       reader TEXT COLLATE "C" NOT NULL,
       since TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (device, reader)
     );`,
    'CREATE INDEX ops_alarms_cleared ON ops_alarms (cleared_at) WHERE cleared_at IS NOT NULL;',
  ],
};
