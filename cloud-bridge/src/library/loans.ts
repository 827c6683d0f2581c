import type { EventRecord } from '@educard/terminal-sdk';
import {
  type BridgeStore,
  type CommittedEvent,
  type ModuleSteps,
  migrateModule,
  type SqlDatabase,
  statementCache,
} from '../store/index.js';
import {
  type ConflictRecord,
  LIBRARY_EVENT_TYPES,
  type LibraryEventRow,
  type LoanRecord,
  replayItem,
} from './ledger.js';

const LIBRARY_TYPES = new Set<string>(LIBRARY_EVENT_TYPES);
/** A person's open loans read at most: far more than any library lets one person borrow. */
const PERSON_LOANS_READ = 1000;
/** Items forgotten in one transaction of the retention purge. */
const FORGET_BATCH = 100;

/**
 * Items whose history before an instant is forgotten (retention): a desk's event from before it that
 * arrives late stays in the events but out of the ledger, so it cannot reopen a loan whose return is gone.
 */
const FORGOTTEN_TABLE = `CREATE TABLE library_forgotten (
     school TEXT COLLATE "C" NOT NULL,
     item_id TEXT COLLATE "C" NOT NULL,
     before TEXT COLLATE "C" NOT NULL,
     PRIMARY KEY (school, item_id)
   );`;

/**
 * The loans not returned, in the order the overdue list and `loans?open=true` read them: a school's
 * ledger keeps its returned loans for as long as its retention (a year), and those reads must not scan them.
 */
const OPEN_LOANS_INDEX =
  'CREATE INDEX loans_open ON loans (school, checked_out_at, loan_id) WHERE returned_at IS NULL;';

/**
 * The ledger's tables: library_events holds each item's history; loans and loan_conflicts are rebuilt
 * from it. On SQLite they came with the store's own schema step 5, from before modules owned their
 * tables, and so did the history of the events stored before it.
 */
const STEPS: ModuleSteps = {
  sqlite: [
    '-- library_events, loans and loan_conflicts: made by the store schema step 5',
    FORGOTTEN_TABLE.replaceAll(' COLLATE "C"', ''),
    OPEN_LOANS_INDEX,
  ],
  postgres: [
    `CREATE TABLE library_events (
       event_id BIGINT PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       item_id TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       type TEXT NOT NULL,
       device TEXT COLLATE "C" NOT NULL,
       data TEXT NOT NULL
     );
     CREATE INDEX library_events_item ON library_events (school, item_id, at);
     CREATE TABLE loans (
       school TEXT COLLATE "C" NOT NULL,
       loan_id TEXT COLLATE "C" NOT NULL,
       item_id TEXT COLLATE "C" NOT NULL,
       person_id TEXT COLLATE "C" NOT NULL,
       device TEXT NOT NULL,
       returned_at TEXT,
       checked_out_at TEXT COLLATE "C" NOT NULL,
       loan TEXT NOT NULL,
       PRIMARY KEY (school, loan_id)
     );
     CREATE INDEX loans_item ON loans (school, item_id);
     CREATE INDEX loans_person ON loans (school, person_id);
     CREATE TABLE loan_conflicts (
       school TEXT COLLATE "C" NOT NULL,
       item_id TEXT COLLATE "C" NOT NULL,
       loan_id TEXT COLLATE "C" NOT NULL,
       other_loan_id TEXT COLLATE "C" NOT NULL,
       at TEXT COLLATE "C" NOT NULL,
       detected_at TEXT COLLATE "C" NOT NULL,
       PRIMARY KEY (school, loan_id, other_loan_id)
     );
     CREATE INDEX loan_conflicts_item ON loan_conflicts (school, item_id);
     INSERT INTO library_events (event_id, school, item_id, at, type, device, data)
       SELECT id, school, record::jsonb #>> '{data,itemId}', at, type, device, (record::jsonb -> 'data')::text
       FROM events
       WHERE type IN ('library.checkout', 'library.return', 'library.renew')
         AND jsonb_typeof(record::jsonb #> '{data,itemId}') = 'string';`,
    FORGOTTEN_TABLE,
    OPEN_LOANS_INDEX,
  ],
};

export interface LoanFilter {
  /** Only loans not returned. */
  open?: boolean;
  personId?: string;
  itemId?: string;
  limit: number;
}

/** A conflict as the ledger reports it: both loans, and when it was first seen. */
export interface LoanConflict extends ConflictRecord {
  detectedAt: string;
  loans: LoanRecord[];
}

function statements(db: SqlDatabase) {
  return {
    insertLibraryEvent: db.prepare(
      'INSERT INTO library_events (event_id, school, item_id, at, type, device, data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    itemEvents: db.prepare<
      [string, string],
      { event_id: number; device: string; at: string; type: string; data: string }
    >('SELECT event_id, device, at, type, data FROM library_events WHERE school = ? AND item_id = ?'),
    libraryItems: db.prepare<[], { school: string; item_id: string }>(
      'SELECT DISTINCT school, item_id FROM library_events',
    ),
    deleteItemLoans: db.prepare('DELETE FROM loans WHERE school = ? AND item_id = ?'),
    putLoan: db.prepare(
      'INSERT INTO loans (school, loan_id, item_id, person_id, device, returned_at, checked_out_at, loan) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    itemConflicts: db.prepare<[string, string], { loan_id: string; other_loan_id: string }>(
      'SELECT loan_id, other_loan_id FROM loan_conflicts WHERE school = ? AND item_id = ?',
    ),
    putConflict: db.prepare(
      `INSERT INTO loan_conflicts (school, item_id, loan_id, other_loan_id, at, detected_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (school, loan_id, other_loan_id) DO UPDATE SET at = excluded.at`,
    ),
    deleteConflict: db.prepare(
      'DELETE FROM loan_conflicts WHERE school = ? AND loan_id = ? AND other_loan_id = ?',
    ),
    conflicts: db.prepare<
      [string],
      { item_id: string; loan_id: string; other_loan_id: string; at: string; detected_at: string }
    >('SELECT * FROM loan_conflicts WHERE school = ? ORDER BY detected_at, item_id, at'),
    openLoans: db.prepare<[string], { loan: string }>(
      'SELECT loan FROM loans WHERE school = ? AND returned_at IS NULL ORDER BY checked_out_at, loan_id',
    ),
    // An item's horizon: the first checkout of a loan still open or returned since the cutoff, or the
    // cutoff. Every loan lent before it was returned before it (a return closes every loan then open),
    // so the item's history before it is of forgettable loans only.
    forgettable: db.prepare<[string, string, string], { item_id: string }>(
      `SELECT item_id FROM loans WHERE school = ? GROUP BY item_id
       HAVING min(checked_out_at) < min(CASE WHEN returned_at IS NULL OR returned_at >= ? THEN checked_out_at ELSE ? END)`,
    ),
    horizon: db.prepare<[string, string, string, string], { horizon: string | null }>(
      `SELECT min(CASE WHEN returned_at IS NULL OR returned_at >= ? THEN checked_out_at ELSE ? END) AS horizon
       FROM loans WHERE school = ? AND item_id = ?`,
    ),
    lentBefore: db.prepare<[string, string, string], { n: number }>(
      'SELECT count(*) AS n FROM loans WHERE school = ? AND item_id = ? AND checked_out_at < ?',
    ),
    forgetEvents: db.prepare('DELETE FROM library_events WHERE school = ? AND item_id = ? AND at < ?'),
    forgetBefore: db.prepare(
      `INSERT INTO library_forgotten (school, item_id, before) VALUES (?, ?, ?)
       ON CONFLICT (school, item_id) DO UPDATE SET before = CASE
         WHEN excluded.before > library_forgotten.before THEN excluded.before ELSE library_forgotten.before END`,
    ),
    forgottenBefore: db.prepare<[string, string], { before: string }>(
      'SELECT before FROM library_forgotten WHERE school = ? AND item_id = ?',
    ),
    loanSchools: db.prepare<[], { school: string }>('SELECT DISTINCT school FROM loans'),
    loan: db.prepare<[string, string], { loan: string }>(
      'SELECT loan FROM loans WHERE school = ? AND loan_id = ?',
    ),
  };
}

/**
 * The loan ledger: a projection of the library events, moved in the same transaction that commits
 * them, so each event counts exactly once, whatever the order batches arrive in.
 */
export class LoanLedger {
  private readonly s;
  private readonly prepared;

  private readonly db: SqlDatabase;

  /** A store, or a copy's database that takes no commits (a backup's: `addCommitProjection` does nothing). */
  constructor(store: Pick<BridgeStore, 'database' | 'addCommitProjection'>) {
    const db = store.database;
    this.db = db;
    const held = migrateModule(db, 'library', STEPS);
    this.s = statements(db);
    this.prepared = statementCache(db);
    // Tables the ledger did not track before (a store from before modules owned their tables) are
    // rebuilt once from their history.
    if (held === 0) db.transaction(() => this.rebuild())();
    store.addCommitProjection((events) => this.project(events));
  }

  loans(school: string, filter: LoanFilter): LoanRecord[] {
    if (!(filter.limit >= 1)) return [];
    const where = ['school = ?'];
    const params: (string | number)[] = [school];
    if (filter.open) where.push('returned_at IS NULL');
    if (filter.personId !== undefined) {
      where.push('person_id = ?');
      params.push(filter.personId);
    }
    if (filter.itemId !== undefined) {
      where.push('item_id = ?');
      params.push(filter.itemId);
    }
    const sql = `SELECT loan FROM loans WHERE ${where.join(' AND ')} ORDER BY checked_out_at, loan_id LIMIT ?`;
    const rows = this.prepared(sql).all(...params, Math.floor(filter.limit)) as { loan: string }[];
    return rows.map((row) => JSON.parse(row.loan) as LoanRecord);
  }

  /**
   * The loans a person has not returned at a school's library, oldest first: what a transfer, a
   * removal and the operations page's transfers name as the books they still have out.
   */
  openLoansOf(school: string, personId: string): LoanRecord[] {
    return this.loans(school, { open: true, personId, limit: PERSON_LOANS_READ });
  }

  /** Every loan of the school not returned yet, oldest first. */
  openLoans(school: string): LoanRecord[] {
    return this.s.openLoans.all(school).map((row) => JSON.parse(row.loan) as LoanRecord);
  }

  loanConflicts(school: string): LoanConflict[] {
    return this.s.conflicts.all(school).map((row): LoanConflict => {
      const loans = [row.loan_id, row.other_loan_id]
        .map((id) => this.s.loan.get(school, id))
        .filter((found): found is { loan: string } => found !== undefined)
        .map((found) => JSON.parse(found.loan) as LoanRecord);
      return {
        school,
        itemId: row.item_id,
        loanId: row.loan_id,
        otherLoanId: row.other_loan_id,
        at: row.at,
        detectedAt: row.detected_at,
        loans,
      };
    });
  }

  /** The schools that have loans in the ledger. */
  schools(): string[] {
    return this.s.loanSchools.all().map((row) => row.school);
  }

  /**
   * The retention purge's, school by school: each item's loans lent before its horizon (the first
   * checkout of a loan still open or returned since the school's cutoff, or the cutoff), and the
   * item's history before it, in transactions of a few items, ingest's commits between them. A
   * school with no cutoff (kept for ever) keeps all. By school, what went.
   */
  async forgetReturned(
    cutoffOf: (school: string) => string | undefined,
    signal: AbortSignal,
  ): Promise<{ school: string; count: number; upTo: string }[]> {
    const forgotten: { school: string; count: number; upTo: string }[] = [];
    for (const school of this.schools()) {
      const cutoff = cutoffOf(school);
      if (cutoff === undefined) continue;
      const items = this.s.forgettable.all(school, cutoff, cutoff).map((row) => row.item_id);
      let loans = 0;
      for (let i = 0; i < items.length && !signal.aborted; i += FORGET_BATCH) {
        loans += this.forgetItems(school, cutoff, items.slice(i, i + FORGET_BATCH));
        await new Promise((resolve) => setImmediate(resolve));
      }
      if (loans > 0) forgotten.push({ school, count: loans, upTo: cutoff });
    }
    return forgotten;
  }

  /** Forgets what each item lent before its horizon, as it stands now; how many loans. */
  private forgetItems(school: string, cutoff: string, items: string[]): number {
    return this.db.transaction(() => {
      let loans = 0;
      const now = new Date().toISOString();
      for (const itemId of items) {
        const horizon = this.s.horizon.get(cutoff, cutoff, school, itemId)?.horizon;
        if (!horizon) continue;
        loans += Number(this.s.lentBefore.get(school, itemId, horizon)?.n ?? 0);
        this.s.forgetEvents.run(school, itemId, horizon);
        this.s.forgetBefore.run(school, itemId, horizon);
        this.replay(school, itemId, now);
      }
      return loans;
    })();
  }

  private project(events: CommittedEvent[]): void {
    const touched = new Map<string, { school: string; itemId: string }>();
    for (const { eventId, school, record, at } of events) {
      const itemId = this.keep(eventId, school, record, at);
      if (itemId !== undefined) touched.set(`${school}\0${itemId}`, { school, itemId });
    }
    const now = new Date().toISOString();
    for (const { school, itemId } of touched.values()) this.replay(school, itemId, now);
  }

  /** Takes a committed record into the ledger's history; returns the item it touched, if any. */
  private keep(eventId: number, school: string, record: EventRecord, at: string): string | undefined {
    if (!LIBRARY_TYPES.has(record.type)) return undefined;
    const itemId = record.data.itemId;
    if (typeof itemId !== 'string') return undefined;
    // From before the item's history was forgotten (a desk offline that long): replayed alone, a
    // checkout whose return is gone would reopen a loan returned long ago.
    const forgotten = this.s.forgottenBefore.get(school, itemId)?.before;
    if (forgotten !== undefined && at < forgotten) return undefined;
    this.s.insertLibraryEvent.run(
      eventId,
      school,
      itemId,
      at,
      record.type,
      record.device,
      JSON.stringify(record.data),
    );
    return itemId;
  }

  private rebuild(): void {
    const now = new Date().toISOString();
    for (const { school, item_id } of this.s.libraryItems.all()) this.replay(school, item_id, now);
  }

  /**
   * Rebuilds one item's loans and conflicts from its history. A conflict keeps the time it was first
   * seen; one that later events show was none (a return that came late, from a desk that was offline)
   * is dropped.
   */
  private replay(school: string, itemId: string, now: string): void {
    const events: LibraryEventRow[] = this.s.itemEvents.all(school, itemId).map((row) => ({
      eventId: Number(row.event_id),
      device: row.device,
      at: row.at,
      type: row.type,
      data: JSON.parse(row.data) as Record<string, unknown>,
    }));
    const { loans, conflicts } = replayItem(school, itemId, events);
    this.s.deleteItemLoans.run(school, itemId);
    for (const loan of loans) {
      this.s.putLoan.run(
        school,
        loan.loanId,
        itemId,
        loan.personId,
        loan.device,
        loan.returnedAt ?? null,
        loan.checkedOutAt,
        JSON.stringify(loan),
      );
    }
    const found = new Set(conflicts.map((c) => `${c.loanId}\0${c.otherLoanId}`));
    for (const held of this.s.itemConflicts.all(school, itemId)) {
      if (!found.has(`${held.loan_id}\0${held.other_loan_id}`))
        this.s.deleteConflict.run(school, held.loan_id, held.other_loan_id);
    }
    for (const c of conflicts) this.s.putConflict.run(school, itemId, c.loanId, c.otherLoanId, c.at, now);
  }
}
