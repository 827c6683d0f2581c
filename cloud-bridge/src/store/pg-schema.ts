/**
 * The core tables on PostgreSQL, step for step what SQLite's MIGRATIONS end with (the history that
 * led there on SQLite has no past here). Text that is compared or ordered (times, ids) is in the C
 * collation, byte by byte as SQLite compares it, whatever the database's locale. Never edit a step: add.
 */
export const POSTGRES_STEPS: string[] = [
  `CREATE TABLE events (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     device TEXT COLLATE "C" NOT NULL,
     epoch INTEGER NOT NULL DEFAULT 1,
     school TEXT COLLATE "C" NOT NULL,
     seq BIGINT NOT NULL,
     at TEXT COLLATE "C" NOT NULL,
     type TEXT COLLATE "C" NOT NULL,
     person_id TEXT COLLATE "C",
     record TEXT NOT NULL,
     received_at TEXT COLLATE "C" NOT NULL,
     UNIQUE (device, epoch, seq)
   );
   CREATE INDEX events_school_at ON events (school, at);
   CREATE INDEX events_person ON events (person_id);
   CREATE TABLE device_cursors (device TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL);
   CREATE TABLE devices (
     id TEXT COLLATE "C" PRIMARY KEY,
     school TEXT COLLATE "C" NOT NULL,
     public_key TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     epoch INTEGER NOT NULL DEFAULT 1,
     created_at TEXT COLLATE "C" NOT NULL,
     revoked_at TEXT COLLATE "C",
     last_seen_at TEXT COLLATE "C",
     presence TEXT
   );
   CREATE TABLE enrollment_tokens (
     hash TEXT PRIMARY KEY,
     school TEXT COLLATE "C" NOT NULL,
     expires_at TEXT COLLATE "C" NOT NULL,
     used_at TEXT COLLATE "C",
     device TEXT COLLATE "C"
   );
   CREATE TABLE roster_cards (
     card_id TEXT COLLATE "C" NOT NULL,
     school TEXT COLLATE "C" NOT NULL,
     entry TEXT NOT NULL,
     PRIMARY KEY (card_id, school)
   );
   CREATE INDEX roster_cards_school ON roster_cards (school);
   CREATE INDEX roster_cards_person ON roster_cards ((entry::jsonb ->> 'personId'));
   CREATE TABLE roster_settings (school TEXT COLLATE "C" PRIMARY KEY, calendar TEXT NOT NULL, schedules TEXT NOT NULL);
   CREATE TABLE roster_versions (
     school TEXT COLLATE "C" NOT NULL,
     version INTEGER NOT NULL,
     snapshot_manifest TEXT NOT NULL,
     snapshot_body BYTEA NOT NULL,
     delta_manifest TEXT,
     delta_body BYTEA,
     created_at TEXT NOT NULL,
     PRIMARY KEY (school, version)
   );
   CREATE TABLE catalogue_versions (
     school TEXT COLLATE "C" NOT NULL,
     version INTEGER NOT NULL,
     manifest TEXT NOT NULL,
     body BYTEA NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (school, version)
   );
   CREATE TABLE journal_losses (
     id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     device TEXT COLLATE "C" NOT NULL,
     school TEXT COLLATE "C" NOT NULL,
     cause TEXT NOT NULL,
     first_seq BIGINT,
     last_seq BIGINT,
     bound INTEGER NOT NULL DEFAULT 0,
     records INTEGER NOT NULL,
     missing INTEGER NOT NULL,
     reason TEXT,
     file TEXT,
     damaged_seq BIGINT,
     declared_at TEXT COLLATE "C" NOT NULL,
     confirmed_at TEXT COLLATE "C"
   );
   CREATE INDEX journal_losses_device ON journal_losses (device, damaged_seq);
   CREATE INDEX journal_losses_school ON journal_losses (school, id);`,
];
