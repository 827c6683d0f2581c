import {
  type CommitProjection,
  type CommittedEvent,
  committedData,
  type ModuleSteps,
  type SqlDatabase,
} from '../store/index.js';

/**
 * Gate passages: one row per granted gate decision with a person and a direction. Attendance reads
 * one school-day range of it; notices follow it by event id. Kept small and covered by its index so
 * a day of a large school is one index range scan, never a parse of whole event records.
 */
export const PASSAGE_STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE gate_passages (
     event_id INTEGER PRIMARY KEY,
     school TEXT NOT NULL,
     person_id TEXT NOT NULL,
     at TEXT NOT NULL,
     direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
     device TEXT NOT NULL,
     role TEXT
   );
   CREATE INDEX gate_passages_day ON gate_passages (school, at, person_id, direction);
   INSERT OR IGNORE INTO gate_passages (event_id, school, person_id, at, direction, device, role)
     SELECT id, school, person_id, at, json_extract(record, '$.data.direction'), device,
            json_extract(record, '$.data.role')
     FROM events
     WHERE type = 'gate.decision' AND person_id IS NOT NULL
       AND json_extract(record, '$.data.decision') = 'grant'
       AND json_extract(record, '$.data.direction') IN ('in', 'out');`,
  ],
  postgres: [
    `CREATE TABLE gate_passages (
       event_id BIGINT PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       person_id TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       direction TEXT COLLATE "C" NOT NULL CHECK (direction IN ('in', 'out')),
       device TEXT COLLATE "C" NOT NULL,
       role TEXT
     );
     CREATE INDEX gate_passages_day ON gate_passages (school, at, person_id, direction);
     INSERT INTO gate_passages (event_id, school, person_id, at, direction, device, role)
       SELECT id, school, person_id, at, record::jsonb #>> '{data,direction}', device,
              record::jsonb #>> '{data,role}'
       FROM events
       WHERE type = 'gate.decision' AND person_id IS NOT NULL
         AND record::jsonb #>> '{data,decision}' = 'grant'
         AND record::jsonb #>> '{data,direction}' IN ('in', 'out')
       ON CONFLICT DO NOTHING;`,
  ],
};

export type PassageDirection = 'in' | 'out';

/** The passage a committed record stands for, if it is one. */
export function passageOf(event: CommittedEvent) {
  const data = committedData(event, 'gate.decision');
  if (data?.decision !== 'grant' || data.personId === undefined || data.direction === 'none')
    return undefined;
  return {
    eventId: event.eventId,
    school: event.school,
    personId: data.personId,
    at: event.at,
    direction: data.direction,
    device: event.device,
    role: data.role ?? null,
  };
}

/** The projection that keeps gate_passages in the transaction that stores the events. */
export function passageProjection(db: SqlDatabase): CommitProjection {
  const insert = db.prepare(
    `INSERT INTO gate_passages (event_id, school, person_id, at, direction, device, role)
     VALUES (@eventId, @school, @personId, @at, @direction, @device, @role) ON CONFLICT DO NOTHING`,
  );
  return (events) => {
    for (const event of events) {
      const passage = passageOf(event);
      if (passage) insert.run(passage);
    }
  };
}

/** What one person did at the gates over one day. Times are ISO UTC strings, compared as text. */
export interface DayPassages {
  firstIn?: string;
  /** The latest passage, with its direction: an exit there means the pupil is out. */
  last: string;
  lastDirection: PassageDirection;
}

/**
 * Each person's day in one grouped range scan over the covering index. Two passages in the same
 * millisecond are resolved towards "in" (the pupil is seen at school).
 */
export function dayPassagesQuery(db: SqlDatabase) {
  const statement = db
    .prepare<[string, string, string], [string, string | null, string, string | null]>(
      `SELECT person_id,
              min(CASE WHEN direction = 'in' THEN at END),
              max(at),
              max(CASE WHEN direction = 'in' THEN at END)
       FROM gate_passages
       WHERE school = ? AND at >= ? AND at < ?
       GROUP BY person_id`,
    )
    .raw();
  return (school: string, fromAt: string, toAt: string): Map<string, DayPassages> => {
    const byPerson = new Map<string, DayPassages>();
    for (const [person, firstIn, last, lastIn] of statement.all(school, fromAt, toAt)) {
      byPerson.set(person, {
        ...(firstIn ? { firstIn } : {}),
        last,
        lastDirection: lastIn === last ? 'in' : 'out',
      });
    }
    return byPerson;
  };
}
