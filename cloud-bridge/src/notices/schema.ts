import type { ModuleSteps } from '../store/index.js';

/**
 * The notices' tables (NoticeLedger keeps them). The first step: each webhook's cursor, each pupil's
 * burst, the queue and the deliveries. The second: the absence notices queued, one per pupil and
 * school day.
 */
const ABSENCES = `CREATE TABLE notice_absences (
     webhook TEXT NOT NULL,
     date TEXT NOT NULL,
     person_id TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (webhook, date, person_id)
   );`;
/**
 * The third step: each absence notice's school and queue row, so a school's day can say what its
 * pupils' parents were told (`parentNotices`). The rows already there are matched to their notices.
 */
const ABSENCE_STATE = {
  sqlite: `ALTER TABLE notice_absences ADD COLUMN school TEXT;
     ALTER TABLE notice_absences ADD COLUMN queue_id INTEGER;
     UPDATE notice_absences SET school = json_extract(q.notice, '$.school'), queue_id = q.id
       FROM notice_queue q
       WHERE q.webhook = notice_absences.webhook
         AND json_extract(q.notice, '$.id') = 'a' || notice_absences.date || ':' || notice_absences.person_id;
     CREATE INDEX notice_absences_day ON notice_absences (school, date);`,
  postgres: `ALTER TABLE notice_absences ADD COLUMN school TEXT COLLATE "C";
     ALTER TABLE notice_absences ADD COLUMN queue_id BIGINT;
     UPDATE notice_absences a SET school = q.notice::json->>'school', queue_id = q.id
       FROM notice_queue q
       WHERE q.webhook = a.webhook AND q.notice::json->>'id' = 'a' || a.date || ':' || a.person_id;
     CREATE INDEX notice_absences_day ON notice_absences (school, date);`,
};
/** The fourth step: why the gate refused a pupil, for a burst that ends with a refusal. */
const BURST_REASON = 'ALTER TABLE notice_bursts ADD COLUMN reason TEXT;';
/**
 * The fifth step: each refusal notice's school, pupil, refusal time and queue row, so a school's day
 * can say whether a pupil's parents were told they were turned away (`refusalNotices`). The refusal
 * notices already queued are matched. And the indexes the hourly prune (housekeeping.ts) reads by.
 */
const REFUSALS = {
  sqlite: `CREATE TABLE notice_refusals (
     queue_id INTEGER PRIMARY KEY,
     webhook TEXT NOT NULL,
     school TEXT NOT NULL,
     person_id TEXT NOT NULL,
     at TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE INDEX notice_refusals_day ON notice_refusals (school, at);
   CREATE INDEX notice_refusals_age ON notice_refusals (created_at);
   CREATE INDEX notice_absences_age ON notice_absences (created_at);
   CREATE INDEX notice_deliveries_done ON notice_deliveries (status, done_at);
   INSERT INTO notice_refusals (queue_id, webhook, school, person_id, at, created_at)
     SELECT id, webhook, json_extract(notice, '$.school'), json_extract(notice, '$.personId'),
            json_extract(notice, '$.at'), created_at
     FROM notice_queue WHERE json_extract(notice, '$.kind') = 'refused';`,
  postgres: `CREATE TABLE notice_refusals (
     queue_id BIGINT PRIMARY KEY,
     webhook TEXT COLLATE "C" NOT NULL,
     school TEXT COLLATE "C" NOT NULL,
     person_id TEXT COLLATE "C" NOT NULL,
     at TEXT COLLATE "C" NOT NULL,
     created_at TEXT COLLATE "C" NOT NULL
   );
   CREATE INDEX notice_refusals_day ON notice_refusals (school, at);
   CREATE INDEX notice_refusals_age ON notice_refusals (created_at);
   CREATE INDEX notice_absences_age ON notice_absences (created_at);
   CREATE INDEX notice_deliveries_done ON notice_deliveries (status, done_at);
   INSERT INTO notice_refusals (queue_id, webhook, school, person_id, at, created_at)
     SELECT id, webhook, notice::json->>'school', notice::json->>'personId', notice::json->>'at', created_at
     FROM notice_queue WHERE notice::json->>'kind' = 'refused';`,
};
/**
 * The sixth step: the reminders of overdue books told, one per pupil and school day a webhook told
 * them (so a pupil is told again only once the interval has passed or another book fell overdue).
 */
const OVERDUE = {
  sqlite: `CREATE TABLE notice_overdue (
     webhook TEXT NOT NULL,
     person_id TEXT NOT NULL,
     date TEXT NOT NULL,
     school TEXT NOT NULL,
     queue_id INTEGER,
     created_at TEXT NOT NULL,
     PRIMARY KEY (webhook, person_id, date)
   );
   CREATE INDEX notice_overdue_school ON notice_overdue (school, person_id, date);
   CREATE INDEX notice_overdue_age ON notice_overdue (created_at);`,
  postgres: `CREATE TABLE notice_overdue (
     webhook TEXT COLLATE "C" NOT NULL,
     person_id TEXT COLLATE "C" NOT NULL,
     date TEXT COLLATE "C" NOT NULL,
     school TEXT COLLATE "C" NOT NULL,
     queue_id BIGINT,
     created_at TEXT COLLATE "C" NOT NULL,
     PRIMARY KEY (webhook, person_id, date)
   );
   CREATE INDEX notice_overdue_school ON notice_overdue (school, person_id, date);
   CREATE INDEX notice_overdue_age ON notice_overdue (created_at);`,
};
export const NOTICES_STEPS = {
  sqlite: [
    `CREATE TABLE notice_webhooks (
     webhook TEXT PRIMARY KEY,
     cursor INTEGER NOT NULL,
     last_error TEXT,
     last_error_at TEXT,
     last_success_at TEXT
   );
   CREATE TABLE notice_bursts (
     webhook TEXT NOT NULL,
     person_id TEXT NOT NULL,
     school TEXT NOT NULL,
     first_at TEXT NOT NULL,
     last_at TEXT NOT NULL,
     direction TEXT NOT NULL,
     event_id INTEGER NOT NULL,
     device TEXT NOT NULL,
     open INTEGER NOT NULL,
     PRIMARY KEY (webhook, person_id)
   );
   CREATE INDEX notice_bursts_open ON notice_bursts (webhook, open, last_at);
   CREATE TABLE notice_deliveries (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     webhook TEXT NOT NULL,
     body TEXT NOT NULL,
     notices INTEGER NOT NULL,
     created_at TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at TEXT NOT NULL,
     last_error TEXT,
     done_at TEXT
   );
   CREATE INDEX notice_deliveries_status ON notice_deliveries (webhook, status, seq);
   CREATE TABLE notice_queue (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     webhook TEXT NOT NULL,
     notice TEXT NOT NULL,
     created_at TEXT NOT NULL,
     delivery_seq INTEGER
   );
   CREATE INDEX notice_queue_unsent ON notice_queue (webhook, delivery_seq, id);`,
    ABSENCES,
    ABSENCE_STATE.sqlite,
    BURST_REASON,
    REFUSALS.sqlite,
    OVERDUE.sqlite,
  ],
  postgres: [
    `CREATE TABLE notice_webhooks (
       webhook TEXT COLLATE "C" PRIMARY KEY,
       cursor BIGINT NOT NULL,
       last_error TEXT,
       last_error_at TEXT COLLATE "C",
       last_success_at TEXT COLLATE "C"
     );
     CREATE TABLE notice_bursts (
       webhook TEXT COLLATE "C" NOT NULL,
       person_id TEXT COLLATE "C" NOT NULL,
       school TEXT COLLATE "C" NOT NULL,
       first_at TEXT COLLATE "C" NOT NULL,
       last_at TEXT COLLATE "C" NOT NULL,
       direction TEXT NOT NULL,
       event_id BIGINT NOT NULL,
       device TEXT COLLATE "C" NOT NULL,
       open INTEGER NOT NULL,
       PRIMARY KEY (webhook, person_id)
     );
     CREATE INDEX notice_bursts_open ON notice_bursts (webhook, open, last_at);
     CREATE TABLE notice_deliveries (
       seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       id TEXT COLLATE "C" NOT NULL UNIQUE,
       webhook TEXT COLLATE "C" NOT NULL,
       body TEXT NOT NULL,
       notices INTEGER NOT NULL,
       created_at TEXT COLLATE "C" NOT NULL,
       status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
       attempts INTEGER NOT NULL DEFAULT 0,
       next_attempt_at TEXT COLLATE "C" NOT NULL,
       last_error TEXT,
       done_at TEXT COLLATE "C"
     );
     CREATE INDEX notice_deliveries_status ON notice_deliveries (webhook, status, seq);
     CREATE TABLE notice_queue (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       webhook TEXT COLLATE "C" NOT NULL,
       notice TEXT NOT NULL,
       created_at TEXT COLLATE "C" NOT NULL,
       delivery_seq BIGINT
     );
     CREATE INDEX notice_queue_unsent ON notice_queue (webhook, delivery_seq, id);`,
    ABSENCES,
    ABSENCE_STATE.postgres,
    BURST_REASON,
    REFUSALS.postgres,
    OVERDUE.postgres,
  ],
} satisfies ModuleSteps;
