import { migrateModule, type SqlDatabase } from '../store/index.js';

/**
 * The venues' tables: the district's hotlist (what each source says of a card, the versions
 * published), the class visits booked at venues and the plans published from them, and one row per
 * venue admission or refusal, projected from the events as they are committed (the operations page
 * counts a venue's visits per day from it without parsing event records).
 */
const STEPS = [
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
];

export function migrateVenues(db: SqlDatabase): void {
  migrateModule(db, 'venues', STEPS);
}
