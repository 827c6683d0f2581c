import type { DirectoryPerson } from '../directory/index.js';
import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

/** A person moved from one school of the district to another, as the bridge applied it. */
export interface Transfer {
  id: number;
  personId: string;
  from: string;
  to: string;
  /** The first day the person is the new school's (attendance counts them there from it). */
  on: string;
  /** From this instant the person is the new school's: when it was applied, or the start of `on` if earlier. */
  effectiveAt: string;
  /** When the bridge applied it. */
  at: string;
  source: 'feed' | 'api';
  /** `central` for the change feed, else the account (or `admin-token`) that asked. */
  actor: string;
  /** The change feed record that made it. */
  changeId?: string;
  /** The cards that moved with the person. */
  cards: string[];
  /** The roster version of each school that carries it to the gates. */
  versions: { school: string; version: number }[];
  /** The person as the old school had them (class, name): what its attendance and notices of before show. */
  before: DirectoryPerson;
}

const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE transfers (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     person_id TEXT NOT NULL,
     from_school TEXT NOT NULL,
     to_school TEXT NOT NULL,
     on_date TEXT NOT NULL,
     effective_at TEXT NOT NULL,
     at TEXT NOT NULL,
     source TEXT NOT NULL,
     actor TEXT NOT NULL,
     change_id TEXT,
     cards TEXT NOT NULL,
     versions TEXT NOT NULL,
     before TEXT NOT NULL
   );
   CREATE INDEX transfers_person ON transfers (person_id, effective_at);
   CREATE INDEX transfers_from ON transfers (from_school, id);
   CREATE INDEX transfers_to ON transfers (to_school, id);`,
  ],
  postgres: [
    `CREATE TABLE transfers (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       person_id TEXT COLLATE "C" NOT NULL,
       from_school TEXT COLLATE "C" NOT NULL,
       to_school TEXT COLLATE "C" NOT NULL,
       on_date TEXT COLLATE "C" NOT NULL,
       effective_at TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       source TEXT NOT NULL,
       actor TEXT NOT NULL,
       change_id TEXT,
       cards TEXT NOT NULL,
       versions TEXT NOT NULL,
       before TEXT NOT NULL
     );
     CREATE INDEX transfers_person ON transfers (person_id, effective_at);
     CREATE INDEX transfers_from ON transfers (from_school, id);
     CREATE INDEX transfers_to ON transfers (to_school, id);`,
  ],
};

interface Row {
  id: number;
  person_id: string;
  from_school: string;
  to_school: string;
  on_date: string;
  effective_at: string;
  at: string;
  source: 'feed' | 'api';
  actor: string;
  change_id: string | null;
  cards: string;
  versions: string;
  before: string;
}

const toTransfer = (row: Row): Transfer => ({
  id: row.id,
  personId: row.person_id,
  from: row.from_school,
  to: row.to_school,
  on: row.on_date,
  effectiveAt: row.effective_at,
  at: row.at,
  source: row.source,
  actor: row.actor,
  ...(row.change_id ? { changeId: row.change_id } : {}),
  cards: JSON.parse(row.cards),
  versions: JSON.parse(row.versions),
  before: JSON.parse(row.before),
});

/**
 * Every transfer the bridge applied, in the bridge's database: written in the transaction that moves
 * the person and their cards, read for the operations view and for where a person belonged when
 * (attendance by date, notices by instant).
 */
export class TransferLog {
  private readonly s;

  constructor(db: SqlDatabase) {
    migrateModule(db, 'transfers', STEPS);
    this.s = {
      insert: db.prepare<[Record<string, unknown>], { id: number }>(
        `INSERT INTO transfers (person_id, from_school, to_school, on_date, effective_at, at, source, actor,
           change_id, cards, versions, before)
         VALUES (@personId, @from, @to, @on, @effectiveAt, @at, @source, @actor, @changeId, @cards, @versions, @before)
         RETURNING id`,
      ),
      ofPerson: db.prepare<[string], Row>(
        'SELECT * FROM transfers WHERE person_id = ? ORDER BY effective_at, id',
      ),
      recent: db.prepare<[number], Row>('SELECT * FROM transfers ORDER BY id DESC LIMIT ?'),
      recentOfSchool: db.prepare<[string, string, number], Row>(
        'SELECT * FROM transfers WHERE from_school = ? OR to_school = ? ORDER BY id DESC LIMIT ?',
      ),
      peopleOfSchool: db.prepare<[string, string], { person_id: string }>(
        'SELECT DISTINCT person_id FROM transfers WHERE from_school = ? OR to_school = ?',
      ),
      people: db.prepare<[], { person_id: string }>('SELECT DISTINCT person_id FROM transfers'),
    };
  }

  /** Writes a transfer down (the caller holds the transaction); returns its id. */
  record(transfer: Omit<Transfer, 'id'>): number {
    const row = this.s.insert.get({
      ...transfer,
      changeId: transfer.changeId ?? null,
      cards: JSON.stringify(transfer.cards),
      versions: JSON.stringify(transfer.versions),
      before: JSON.stringify(transfer.before),
    });
    return Number(row?.id);
  }

  /** A person's transfers, oldest first. */
  ofPerson(personId: string): Transfer[] {
    return this.s.ofPerson.all(personId).map(toTransfer);
  }

  /** The newest transfers, of one school (into it or out of it) or of all. */
  recent(limit: number, school?: string): Transfer[] {
    const rows =
      school === undefined ? this.s.recent.all(limit) : this.s.recentOfSchool.all(school, school, limit);
    return rows.map(toTransfer);
  }

  /** Each person who ever moved into or out of the school, with all their transfers. */
  peopleOf(school: string): Map<string, Transfer[]> {
    return new Map(
      this.s.peopleOfSchool.all(school, school).map(({ person_id }) => [person_id, this.ofPerson(person_id)]),
    );
  }

  /** Everyone who ever moved: few next to a district's pupils, so callers keep the set for a round. */
  people(): Set<string> {
    return new Set(this.s.people.all().map((row) => row.person_id));
  }
}

/**
 * Where a person with these transfers (oldest first) belonged at a moment: by date (`on`, for
 * attendance) or by instant (`effectiveAt`, for notices). Before their first transfer, the school and
 * the person as it had them; from a transfer on, its new school and, until the next one, the person
 * as the next one recorded them (or `current`, the directory's, after the last).
 */
export function membershipAt(
  transfers: Transfer[],
  current: DirectoryPerson | undefined,
  when: { date: string } | { instant: string },
): { school: string; person: DirectoryPerson | undefined } | undefined {
  const first = transfers[0];
  if (!first) return undefined;
  const reached = (t: Transfer) => ('date' in when ? t.on <= when.date : t.effectiveAt <= when.instant);
  const next = transfers.findIndex((t) => !reached(t));
  if (next === 0) return { school: first.from, person: first.before };
  const last = transfers[next === -1 ? transfers.length - 1 : next - 1] as Transfer;
  const person = next === -1 ? current : transfers[next]?.before;
  return { school: last.to, person };
}
