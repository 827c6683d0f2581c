import type { DenyReason } from '@educard/terminal-sdk';
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
 *
 * Gate refusals (the second step): one row per refused entry of a known person. A pupil turned away
 * at the gate (a lockdown, an expired card) was there, and the school must know they are outside.
 */
export const ATTENDANCE_STEPS = {
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
    `CREATE TABLE gate_refusals (
     event_id INTEGER PRIMARY KEY,
     school TEXT NOT NULL,
     person_id TEXT NOT NULL,
     at TEXT NOT NULL,
     reason TEXT NOT NULL,
     device TEXT NOT NULL,
     role TEXT
   );
   CREATE INDEX gate_refusals_day ON gate_refusals (school, at);
   INSERT OR IGNORE INTO gate_refusals (event_id, school, person_id, at, reason, device, role)
     SELECT id, school, person_id, at, json_extract(record, '$.data.reason'), device,
            json_extract(record, '$.data.role')
     FROM events
     WHERE type = 'gate.decision' AND person_id IS NOT NULL
       AND json_extract(record, '$.data.decision') = 'deny'
       AND json_extract(record, '$.data.direction') = 'in';`,
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
    `CREATE TABLE gate_refusals (
       event_id BIGINT PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       person_id TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       reason TEXT NOT NULL,
       device TEXT COLLATE "C" NOT NULL,
       role TEXT
     );
     CREATE INDEX gate_refusals_day ON gate_refusals (school, at);
     INSERT INTO gate_refusals (event_id, school, person_id, at, reason, device, role)
       SELECT id, school, person_id, at, record::jsonb #>> '{data,reason}', device,
              record::jsonb #>> '{data,role}'
       FROM events
       WHERE type = 'gate.decision' AND person_id IS NOT NULL
         AND record::jsonb #>> '{data,decision}' = 'deny'
         AND record::jsonb #>> '{data,direction}' = 'in'
       ON CONFLICT DO NOTHING;`,
  ],
} satisfies ModuleSteps;

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

/** The refused entry a committed record stands for, if it is one of a known person. */
export function refusalOf(event: CommittedEvent) {
  const data = committedData(event, 'gate.decision');
  if (data?.decision !== 'deny' || data.personId === undefined || data.direction !== 'in') return undefined;
  return {
    eventId: event.eventId,
    school: event.school,
    personId: data.personId,
    at: event.at,
    reason: data.reason,
    device: event.device,
    role: data.role ?? null,
  };
}

/** The projection that keeps gate_passages and gate_refusals in the transaction that stores the events. */
export function gateProjection(db: SqlDatabase): CommitProjection {
  const passage = db.prepare(
    `INSERT INTO gate_passages (event_id, school, person_id, at, direction, device, role)
     VALUES (@eventId, @school, @personId, @at, @direction, @device, @role) ON CONFLICT DO NOTHING`,
  );
  const refusal = db.prepare(
    `INSERT INTO gate_refusals (event_id, school, person_id, at, reason, device, role)
     VALUES (@eventId, @school, @personId, @at, @reason, @device, @role) ON CONFLICT DO NOTHING`,
  );
  return (events) => {
    for (const event of events) {
      const passed = passageOf(event);
      if (passed) passage.run(passed);
      const refused = passed ? undefined : refusalOf(event);
      if (refused) refusal.run(refused);
    }
  };
}

/** What one person did at the gates over one day. Times are ISO UTC strings, compared as text. */
export interface DayPassages {
  firstIn?: string;
  lastIn?: string;
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
        ...(lastIn ? { lastIn } : {}),
        last,
        lastDirection: lastIn === last ? 'in' : 'out',
      });
    }
    return byPerson;
  };
}

/** A refused entry: when, why and at which gate. */
export interface Refusal {
  at: string;
  reason: DenyReason;
  device: string;
  role: string | null;
}

/**
 * Whether a person refused entry is outside because of it: they are out (no passage, or the last was
 * an exit) and nothing took them in after the refusal. A refusal while the last passage was an entry
 * (a second tap of a pupil inside) turns nobody away.
 */
export function turnedAway(refusal: Pick<Refusal, 'at'>, passages: DayPassages | undefined): boolean {
  if (!passages) return true;
  return passages.lastDirection === 'out' && (passages.lastIn ?? '') < refusal.at;
}

/**
 * Each person's latest refused entry in a range (optionally of one reason), in one range scan.
 * Refusals are few (a known card refused at an entry), so they are read as rows and folded here.
 */
export function refusalsQuery(db: SqlDatabase) {
  const statement = db
    .prepare<[string, string, string], [string, string, DenyReason, string, string | null]>(
      `SELECT person_id, at, reason, device, role FROM gate_refusals
       WHERE school = ? AND at >= ? AND at < ? ORDER BY at, event_id`,
    )
    .raw();
  return (school: string, fromAt: string, toAt: string, reason?: DenyReason): Map<string, Refusal> => {
    const byPerson = new Map<string, Refusal>();
    for (const [person, at, why, device, role] of statement.all(school, fromAt, toAt))
      if (reason === undefined || why === reason) byPerson.set(person, { at, reason: why, device, role });
    return byPerson;
  };
}
