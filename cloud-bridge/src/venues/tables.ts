import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

/**
 * The venues' tables: the district's hotlist (what each source says of a card, the versions
 * published), the class visits booked at venues and the plans published from them, and one row per
 * venue admission or refusal, projected from the events as they are committed (the operations page
 * counts a venue's visits per day from it without parsing event records).
 */
/**
 * The second step: the admissions keep no card id. The counts never read it (the venue's gateway marks
 * a card's re-entry itself), and one row per visit naming the card would keep, past the venue events'
 * own retention, where a pupil went on which day.
 */
const FORGET_ADMITTED_CARDS = 'ALTER TABLE venue_admissions DROP COLUMN card_id;';

const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE hotlist_entries (
     card_id TEXT NOT NULL,
     source TEXT NOT NULL CHECK (source IN ('roster', 'central')),
     status TEXT NOT NULL CHECK (status IN ('lost', 'cancelled', 'suspended')),
     updated_at TEXT NOT NULL,
     PRIMARY KEY (card_id, source)
   );
   CREATE TABLE hotlist_versions (
     version INTEGER PRIMARY KEY,
     manifest TEXT NOT NULL,
     body BLOB,
     delta_manifest TEXT,
     delta_body BLOB,
     created_at TEXT NOT NULL
   );
   CREATE TABLE venue_bookings (
     booking_id TEXT PRIMARY KEY,
     venue TEXT NOT NULL,
     school TEXT NOT NULL,
     class TEXT NOT NULL,
     date TEXT NOT NULL,
     from_time TEXT NOT NULL,
     until_time TEXT NOT NULL,
     teachers TEXT NOT NULL,
     pupils TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     cancelled_at TEXT
   );
   CREATE INDEX venue_bookings_venue ON venue_bookings (venue, date);
   CREATE TABLE venue_plans (
     venue TEXT NOT NULL,
     version INTEGER NOT NULL,
     manifest TEXT NOT NULL,
     body BLOB NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (venue, version)
   );
   CREATE TABLE venue_admissions (
     event_id INTEGER PRIMARY KEY,
     site TEXT NOT NULL,
     venue TEXT NOT NULL,
     day TEXT NOT NULL,
     card_id TEXT NOT NULL,
     admitted INTEGER NOT NULL,
     reentry INTEGER NOT NULL,
     booking TEXT
   );
   CREATE INDEX venue_admissions_day ON venue_admissions (day, site, venue);
   INSERT OR IGNORE INTO venue_admissions (event_id, site, venue, day, card_id, admitted, reentry, booking)
     SELECT id, school, json_extract(record, '$.data.venue'), json_extract(record, '$.data.day'),
            json_extract(record, '$.data.cardId'), type = 'venue.visit',
            coalesce(json_extract(record, '$.data.reentry'), 0), json_extract(record, '$.data.booking')
     FROM events WHERE type IN ('venue.visit', 'venue.refused');`,
    FORGET_ADMITTED_CARDS,
  ],
  postgres: [
    `CREATE TABLE hotlist_entries (
       card_id TEXT COLLATE "C" NOT NULL,
       source TEXT COLLATE "C" NOT NULL CHECK (source IN ('roster', 'central')),
       status TEXT NOT NULL CHECK (status IN ('lost', 'cancelled', 'suspended')),
       updated_at TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (card_id, source)
     );
     CREATE TABLE hotlist_versions (
       version INTEGER PRIMARY KEY,
       manifest TEXT NOT NULL,
       body BYTEA,
       delta_manifest TEXT,
       delta_body BYTEA,
       created_at TEXT COLLATE "C" NOT NULL
     );
     CREATE TABLE venue_bookings (
       booking_id TEXT COLLATE "C" PRIMARY KEY,
       venue TEXT COLLATE "C" NOT NULL,
       school TEXT COLLATE "C" NOT NULL,
       class TEXT COLLATE "C" NOT NULL,
       date TEXT COLLATE "C" NOT NULL,
       from_time TEXT COLLATE "C" NOT NULL,
       until_time TEXT COLLATE "C" NOT NULL,
       teachers TEXT NOT NULL,
       pupils TEXT NOT NULL,
       created_by TEXT NOT NULL,
       created_at TEXT COLLATE "C" NOT NULL,
       cancelled_at TEXT COLLATE "C"
     );
     CREATE INDEX venue_bookings_venue ON venue_bookings (venue, date);
     CREATE TABLE venue_plans (
       venue TEXT COLLATE "C" NOT NULL,
       version INTEGER NOT NULL,
       manifest TEXT NOT NULL,
       body BYTEA NOT NULL,
       created_at TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (venue, version)
     );
     CREATE TABLE venue_admissions (
       event_id BIGINT PRIMARY KEY,
       site TEXT COLLATE "C" NOT NULL,
       venue TEXT COLLATE "C" NOT NULL,
       day TEXT COLLATE "C" NOT NULL,
       card_id TEXT COLLATE "C" NOT NULL,
       admitted INTEGER NOT NULL,
       reentry INTEGER NOT NULL,
       booking TEXT COLLATE "C"
     );
     CREATE INDEX venue_admissions_day ON venue_admissions (day, site, venue);
     INSERT INTO venue_admissions (event_id, site, venue, day, card_id, admitted, reentry, booking)
       SELECT id, school, data #>> '{venue}', data #>> '{day}', data #>> '{cardId}',
              CASE WHEN type = 'venue.visit' THEN 1 ELSE 0 END,
              CASE WHEN data -> 'reentry' = 'true' THEN 1 ELSE 0 END, data #>> '{booking}'
       FROM (SELECT id, school, type, record::jsonb -> 'data' AS data FROM events
             WHERE type IN ('venue.visit', 'venue.refused')) AS venue_events
       WHERE data ->> 'venue' IS NOT NULL AND data ->> 'day' IS NOT NULL AND data ->> 'cardId' IS NOT NULL
       ON CONFLICT DO NOTHING;`,
    FORGET_ADMITTED_CARDS,
  ],
};

export function migrateVenues(db: SqlDatabase): void {
  migrateModule(db, 'venues', STEPS);
}
