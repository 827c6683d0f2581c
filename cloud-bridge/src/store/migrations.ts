/** Schema steps, applied in order; PRAGMA user_version records how many have run. Never edit one: add. */
export const MIGRATIONS: string[] = [
  `CREATE TABLE events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     device TEXT NOT NULL,
     school TEXT NOT NULL,
     seq INTEGER NOT NULL,
     at TEXT NOT NULL,
     type TEXT NOT NULL,
     person_id TEXT,
     record TEXT NOT NULL,
     received_at TEXT NOT NULL,
     UNIQUE (device, seq)
   );
   CREATE INDEX events_school_at ON events (school, at);
   CREATE INDEX events_person ON events (person_id);
   CREATE INDEX events_type ON events (type);
   CREATE TABLE device_cursors (device TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL);
   CREATE TABLE devices (
     id TEXT PRIMARY KEY,
     school TEXT NOT NULL,
     public_key TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     created_at TEXT NOT NULL,
     revoked_at TEXT,
     last_seen_at TEXT,
     presence TEXT
   );
   CREATE TABLE enrollment_tokens (
     hash TEXT PRIMARY KEY,
     school TEXT NOT NULL,
     expires_at TEXT NOT NULL,
     used_at TEXT
   );`,
  `CREATE TABLE roster_cards (card_id TEXT PRIMARY KEY, school TEXT NOT NULL, entry TEXT NOT NULL);
   CREATE INDEX roster_cards_school ON roster_cards (school);
   CREATE TABLE roster_settings (school TEXT PRIMARY KEY, calendar TEXT NOT NULL, schedules TEXT NOT NULL);
   CREATE TABLE roster_versions (
     school TEXT NOT NULL,
     version INTEGER NOT NULL,
     snapshot_manifest TEXT NOT NULL,
     snapshot_body BLOB NOT NULL,
     delta_manifest TEXT,
     delta_body BLOB,
     created_at TEXT NOT NULL,
     PRIMARY KEY (school, version)
   );`,
  // Time columns compared as text must all be UTC in one shape (toISOString's): `at` was stored as the
  // record carried it, offset and all. SQLite's strftime turns an offset time into UTC milliseconds.
  `UPDATE events SET at = coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', at), at);
   UPDATE enrollment_tokens SET expires_at = coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', expires_at), expires_at);`,
  // Event kinds are few, so an index on the kind alone picks out little, and it cost about a tenth of
  // each insert; queries by kind run within a school and a time span, which events_school_at serves.
  `DROP INDEX events_type;`,
  // The library: published catalogues, and the loan ledger projected from library events as they are
  // committed (library_events holds each item's history; loans and loan_conflicts are rebuilt from it).
  `CREATE TABLE catalogue_versions (
     school TEXT NOT NULL,
     version INTEGER NOT NULL,
     manifest TEXT NOT NULL,
     body BLOB NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (school, version)
   );
   CREATE TABLE library_events (
     event_id INTEGER PRIMARY KEY,
     school TEXT NOT NULL,
     item_id TEXT NOT NULL,
     at TEXT NOT NULL,
     type TEXT NOT NULL,
     device TEXT NOT NULL,
     data TEXT NOT NULL
   );
   CREATE INDEX library_events_item ON library_events (school, item_id, at);
   CREATE TABLE loans (
     school TEXT NOT NULL,
     loan_id TEXT NOT NULL,
     item_id TEXT NOT NULL,
     person_id TEXT NOT NULL,
     device TEXT NOT NULL,
     returned_at TEXT,
     checked_out_at TEXT NOT NULL,
     loan TEXT NOT NULL,
     PRIMARY KEY (school, loan_id)
   );
   CREATE INDEX loans_item ON loans (school, item_id);
   CREATE INDEX loans_person ON loans (school, person_id);
   CREATE TABLE loan_conflicts (
     school TEXT NOT NULL,
     item_id TEXT NOT NULL,
     loan_id TEXT NOT NULL,
     other_loan_id TEXT NOT NULL,
     at TEXT NOT NULL,
     detected_at TEXT NOT NULL,
     PRIMARY KEY (school, loan_id, other_loan_id)
   );
   CREATE INDEX loan_conflicts_item ON loan_conflicts (school, item_id);
   INSERT INTO library_events (event_id, school, item_id, at, type, device, data)
     SELECT id, school, json_extract(record, '$.data.itemId'), at, type, device, json_extract(record, '$.data')
     FROM events
     WHERE type IN ('library.checkout', 'library.return', 'library.renew')
       AND json_type(record, '$.data.itemId') = 'text';`,
  // A card may be on two schools' rosters: where its holder is now, and, cancelled as transferred, on
  // the roster of each school they left (so that school's gates deny it by name).
  `CREATE TABLE roster_cards_by_school (
     card_id TEXT NOT NULL,
     school TEXT NOT NULL,
     entry TEXT NOT NULL,
     PRIMARY KEY (card_id, school)
   );
   INSERT INTO roster_cards_by_school (card_id, school, entry) SELECT card_id, school, entry FROM roster_cards;
   DROP TABLE roster_cards;
   ALTER TABLE roster_cards_by_school RENAME TO roster_cards;
   CREATE INDEX roster_cards_school ON roster_cards (school);
   CREATE INDEX roster_cards_person ON roster_cards (json_extract(entry, '$.personId'));`,
  // Device epochs: a device enrolled again with a new key starts a new chain from seq 1, and the old
  // chain's records stay, so (device, seq) is unique only within an epoch. An enrollment token may be
  // bound to the one device id it may enroll. SQLite cannot change a UNIQUE constraint in place: the
  // events table is made again with its ids (and its AUTOINCREMENT high-water mark) kept.
  `ALTER TABLE devices ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE enrollment_tokens ADD COLUMN device TEXT;
   CREATE TABLE events_by_epoch (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     device TEXT NOT NULL,
     epoch INTEGER NOT NULL DEFAULT 1,
     school TEXT NOT NULL,
     seq INTEGER NOT NULL,
     at TEXT NOT NULL,
     type TEXT NOT NULL,
     person_id TEXT,
     record TEXT NOT NULL,
     received_at TEXT NOT NULL,
     UNIQUE (device, epoch, seq)
   );
   INSERT INTO events_by_epoch (id, device, epoch, school, seq, at, type, person_id, record, received_at)
     SELECT id, device, 1, school, seq, at, type, person_id, record, received_at FROM events ORDER BY id;
   INSERT INTO sqlite_sequence (name, seq)
     SELECT 'events_by_epoch', seq FROM sqlite_sequence
     WHERE name = 'events' AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events_by_epoch');
   UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0))
     WHERE name = 'events_by_epoch';
   DROP TABLE events;
   ALTER TABLE events_by_epoch RENAME TO events;
   CREATE INDEX events_school_at ON events (school, at);
   CREATE INDEX events_person ON events (person_id);`,
  // Losses devices told of (a damaged journal, a full disk): facts, so no one asks for them again.
  `CREATE TABLE journal_losses (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     device TEXT NOT NULL,
     school TEXT NOT NULL,
     cause TEXT NOT NULL,
     first_seq INTEGER,
     last_seq INTEGER,
     bound INTEGER NOT NULL DEFAULT 0,
     records INTEGER NOT NULL,
     missing INTEGER NOT NULL,
     reason TEXT,
     file TEXT,
     damaged_seq INTEGER,
     declared_at TEXT NOT NULL,
     confirmed_at TEXT
   );
   CREATE INDEX journal_losses_device ON journal_losses (device, damaged_seq);
   CREATE INDEX journal_losses_school ON journal_losses (school, id);`,
];
