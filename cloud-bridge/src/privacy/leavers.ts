import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditEntry, AuditSink } from '../access/index.js';
import type { Directory } from '../directory/index.js';
import { forgetNoticesOf } from '../notices/index.js';
import { RosterChangeRefused } from '../roster/index.js';
import {
  type BridgeStore,
  type ModuleSteps,
  migrateModule,
  type SqlDatabase,
  type SqlDialect,
  tableExists,
} from '../store/index.js';

const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE privacy_leavers (
     person_id TEXT PRIMARY KEY,
     school TEXT NOT NULL,
     left_at TEXT NOT NULL,
     actor TEXT NOT NULL,
     anonymise_after TEXT NOT NULL,
     anonymised_at TEXT
   );
   CREATE INDEX privacy_leavers_due ON privacy_leavers (anonymise_after) WHERE anonymised_at IS NULL;`,
  ],
  postgres: [
    `CREATE TABLE privacy_leavers (
       person_id TEXT COLLATE "C" PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       left_at TEXT NOT NULL,
       actor TEXT NOT NULL,
       anonymise_after TEXT COLLATE "C" NOT NULL,
       anonymised_at TEXT
     );
     CREATE INDEX privacy_leavers_due ON privacy_leavers (anonymise_after) WHERE anonymised_at IS NULL;`,
  ],
};

/**
 * The statements that rewrite a person id inside stored JSON, in each dialect's JSON functions. On
 * PostgreSQL the rewritten text is jsonb's (keys reordered, spaces after separators): the same JSON.
 */
const REWRITE: Record<SqlDialect, { events: string; loans: string; libraryEvents: string }> = {
  sqlite: {
    events: `UPDATE events SET person_id = ?,
               record = json_remove(json_set(record, '$.data.personId', ?), '$.data.cardId', '$.data.name', '$.data.personPseudonym')
             WHERE person_id = ?`,
    loans: `UPDATE loans SET person_id = ?, loan = json_set(loan, '$.personId', ?) WHERE person_id = ?`,
    libraryEvents: `UPDATE library_events SET data = json_set(data, '$.personId', ?) WHERE json_extract(data, '$.personId') = ?`,
  },
  postgres: {
    events: `UPDATE events SET person_id = ?,
               record = (jsonb_set(record::jsonb, '{data,personId}', to_jsonb(?::text)) #- '{data,cardId}' #- '{data,name}' #- '{data,personPseudonym}')::text
             WHERE person_id = ?`,
    loans: `UPDATE loans SET person_id = ?, loan = jsonb_set(loan::jsonb, '{personId}', to_jsonb(?::text))::text WHERE person_id = ?`,
    libraryEvents: `UPDATE library_events SET data = jsonb_set(data::jsonb, '{personId}', to_jsonb(?::text))::text
                    WHERE data::jsonb ->> 'personId' = ?`,
  },
};

const DAY_MS = 86_400_000;

export class PersonUnknown extends Error {}

export interface Removal {
  personId: string;
  school: string;
  /** The cards revoked on their school's roster (cancelled), and the versions that carry it. */
  cards: string[];
  versions: number[];
  anonymiseAfter: string;
}

export interface LeaversDeps {
  db: SqlDatabase;
  store: BridgeStore;
  directory: Directory;
  /** Cancels a card on its roster and publishes the delta at once; the version. */
  cancelCard: (cardId: string) => Promise<number>;
  /** Takes cards off their schools' rosters, one snapshot per school (RosterService.forgetCards). */
  forgetCards: (cards: { cardId: string; school: string }[]) => Promise<unknown>;
  audit: AuditSink;
  logger: Logger;
  /** Days after leaving before what is kept of them is anonymised. */
  leaverDays: () => number;
  now: () => Date;
}

/**
 * Pupils who left the district. Removing one cancels every card of theirs at once (the gates deny
 * it, so no passage and no parent notice follows), marks them inactive, and notes when what is kept
 * of them becomes anonymous. Then, past `leaverDays`, their person id is replaced everywhere the
 * bridge keeps it by a random pseudonym (events, gate passages, loans, transfers), their directory
 * record keeps only role, school and class under that pseudonym (so past attendance still counts
 * them), and their name and student-status number are gone.
 */
export class Leavers {
  private readonly sql;

  constructor(private readonly deps: LeaversDeps) {
    const { db } = deps;
    migrateModule(db, 'privacy', STEPS);
    this.sql = {
      insert: db.prepare(
        `INSERT INTO privacy_leavers (person_id, school, left_at, actor, anonymise_after) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (person_id) DO UPDATE SET left_at = excluded.left_at, actor = excluded.actor,
           anonymise_after = excluded.anonymise_after, anonymised_at = NULL`,
      ),
      pending: db.prepare<[string], { anonymise_after: string }>(
        'SELECT anonymise_after FROM privacy_leavers WHERE person_id = ? AND anonymised_at IS NULL',
      ),
      due: db.prepare<[string], { person_id: string; school: string }>(
        'SELECT person_id, school FROM privacy_leavers WHERE anonymised_at IS NULL AND anonymise_after <= ? ORDER BY anonymise_after',
      ),
      done: db.prepare('UPDATE privacy_leavers SET person_id = ?, anonymised_at = ? WHERE person_id = ?'),
    };
  }

  /**
   * Removes a person, audited as `by` asked it (an admin, or the central feed). A person removed
   * before and not back since (inactive, no card left) is not removed again: that would move the day
   * their data is anonymised; the removal there is is answered as it stands.
   */
  async remove(personId: string, by: Pick<AuditEntry, 'actor' | 'role' | 'ip'>): Promise<Removal> {
    const { store, directory, audit, logger, now } = this.deps;
    const person = directory.person(personId);
    const cards = store.personCards(personId);
    const school = person?.school ?? cards.find((c) => c.statusReason !== 'transferred')?.school;
    if (!school) throw new PersonUnknown(`no person ${personId} in the directory or on any roster`);
    const pending = this.sql.pending.get(personId);
    if (pending && !person?.active && cards.every((card) => card.status === 'cancelled'))
      return { personId, school, cards: [], versions: [], anonymiseAfter: pending.anonymise_after };
    const asked = { ...by, action: 'people.remove', target: `person:${personId}`, school };
    const revoked: string[] = [];
    const versions: number[] = [];
    try {
      for (const card of cards) {
        if (card.status === 'cancelled') continue;
        versions.push(await this.deps.cancelCard(card.cardId));
        revoked.push(card.cardId);
      }
    } catch (error) {
      if (error instanceof RosterChangeRefused)
        audit.record({ ...asked, outcome: 'failed', detail: { reason: error.message } });
      throw error;
    }
    if (person?.active) directory.putPerson({ ...person, active: false });
    const at = now();
    const anonymiseAfter = new Date(at.getTime() + this.deps.leaverDays() * DAY_MS).toISOString();
    this.sql.insert.run(personId, school, at.toISOString(), by.actor, anonymiseAfter);
    audit.record({ ...asked, outcome: 'ok', detail: { cards: revoked.length, versions, anonymiseAfter } });
    logger.info({ cards: revoked.length, anonymiseAfter }, 'a person left the district');
    return { personId, school, cards: revoked, versions, anonymiseAfter };
  }

  /**
   * Anonymises every leaver whose time has come; how many. Their cancelled cards leave the rosters
   * first (one snapshot per school for all of them): a stop in between anonymises them at the next
   * run, while the other way round would leave the cards, with their person id, for ever.
   */
  async anonymiseDue(): Promise<number> {
    const { store, forgetCards } = this.deps;
    const due = this.sql.due.all(this.deps.now().toISOString());
    const cancelled = due.flatMap((leaver) =>
      store.personCards(leaver.person_id).filter((card) => card.status === 'cancelled'),
    );
    if (cancelled.length > 0) await forgetCards(cancelled);
    for (const leaver of due) this.anonymise(leaver.person_id, leaver.school);
    return due.length;
  }

  private anonymise(personId: string, school: string): void {
    const { db, directory, audit, logger, now } = this.deps;
    const pseudonym = `anon-${randomBytes(9).toString('base64url')}`;
    const counts: Record<string, number> = {};
    const rewrite = REWRITE[db.dialect];
    const studentNumber = directory.person(personId)?.studentNumber;
    const run = (what: string, sql: string, ...params: unknown[]) => {
      counts[what] = (counts[what] ?? 0) + db.prepare(sql).run(...params).changes;
    };
    db.transaction(() => {
      // The record as stored loses the person's id and card (it no longer matches its hash: the
      // device's chain was checked when it came in, and the central system has it whole).
      run('events', rewrite.events, pseudonym, pseudonym, personId);
      if (tableExists(db, 'gate_passages'))
        run('passages', 'UPDATE gate_passages SET person_id = ? WHERE person_id = ?', pseudonym, personId);
      if (tableExists(db, 'gate_refusals'))
        run('refusals', 'UPDATE gate_refusals SET person_id = ? WHERE person_id = ?', pseudonym, personId);
      if (tableExists(db, 'loans')) {
        run('loans', rewrite.loans, pseudonym, pseudonym, personId);
        run('libraryEvents', rewrite.libraryEvents, pseudonym, personId);
      }
      if (tableExists(db, 'transfers'))
        run('transfers', 'UPDATE transfers SET person_id = ? WHERE person_id = ?', pseudonym, personId);
      if (tableExists(db, 'ops_card_changes'))
        run(
          'cardChanges',
          'UPDATE ops_card_changes SET person_id = ? WHERE person_id = ?',
          pseudonym,
          personId,
        );
      if (tableExists(db, 'central_feed_problems')) {
        // A problem the feed had with their record names them by id, and perhaps by number.
        const number = studentNumber ?? personId;
        run(
          'feedProblems',
          `UPDATE central_feed_problems
             SET record_id = CASE WHEN record_id = ? THEN ? ELSE record_id END,
                 problem = replace(replace(problem, ?, ?), ?, ?)
           WHERE record_id = ? OR problem LIKE ? OR problem LIKE ?`,
          personId,
          pseudonym,
          personId,
          pseudonym,
          number,
          studentNumber ? '(anonymised)' : pseudonym,
          personId,
          `%${personId}%`,
          `%${number}%`,
        );
      }
      counts.notices = forgetNoticesOf(db, personId);
      counts.directory = directory.anonymisePerson(personId, pseudonym);
      this.sql.done.run(pseudonym, now().toISOString(), personId);
    })();
    audit.record({
      actor: 'bridge',
      action: 'people.anonymise',
      target: `person:${pseudonym}`,
      school,
      outcome: 'ok',
      detail: counts,
    });
    logger.info({ counts }, 'a leaver anonymised');
  }
}
