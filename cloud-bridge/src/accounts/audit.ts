import type { Logger } from 'pino';
import type { AccountRole, AuditEntry, AuditSink } from '../access/index.js';
import {
  type ModuleSteps,
  migrateModule,
  type SqlDatabase,
  type SqlStatement,
  statementCache,
  whereOf,
} from '../store/index.js';
import type { StoredAuditEntry } from './types.js';

const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE audit_log (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     role TEXT,
     action TEXT NOT NULL,
     target TEXT,
     school TEXT,
     outcome TEXT NOT NULL,
     detail TEXT,
     ip TEXT
   );
   CREATE INDEX audit_log_school ON audit_log (school, id);
   CREATE INDEX audit_log_actor ON audit_log (actor, id);
   CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
  ],
  postgres: [
    `CREATE TABLE audit_log (
       id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       at TEXT COLLATE "C" NOT NULL,
       actor TEXT COLLATE "C" NOT NULL,
       role TEXT,
       action TEXT COLLATE "C" NOT NULL,
       target TEXT COLLATE "C",
       school TEXT COLLATE "C",
       outcome TEXT NOT NULL,
       detail TEXT,
       ip TEXT
     );
     CREATE INDEX audit_log_school ON audit_log (school, id);
     CREATE INDEX audit_log_actor ON audit_log (actor, id);
     CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
     CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
     CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
     CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();`,
  ],
};

export interface AuditFilter {
  school?: string;
  actor?: string;
  action?: string;
  /** What an entry is about, as it names it: `person:ID` finds every read of one pupil's data. */
  target?: string;
  outcome?: AuditEntry['outcome'];
  /** Paging backwards: only entries older than this id. */
  before?: number;
  limit: number;
}

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  role: string | null;
  action: string;
  target: string | null;
  school: string | null;
  outcome: AuditEntry['outcome'];
  detail: string | null;
  ip: string | null;
}

const toEntry = (row: AuditRow): StoredAuditEntry => ({
  id: row.id,
  at: row.at,
  actor: row.actor,
  ...(row.role ? { role: row.role as AccountRole } : {}),
  action: row.action,
  ...(row.target ? { target: row.target } : {}),
  ...(row.school ? { school: row.school } : {}),
  outcome: row.outcome,
  ...(row.detail ? { detail: JSON.parse(row.detail) as Record<string, unknown> } : {}),
  ...(row.ip ? { ip: row.ip } : {}),
});

/**
 * The audit log: append-only in the bridge's database (triggers refuse UPDATE and DELETE), newest
 * first when read. A write that fails is logged and does not fail the request it describes.
 */
export class AuditLog implements AuditSink {
  private readonly insert: SqlStatement;
  private readonly prepared: (sql: string) => SqlStatement;

  constructor(
    private readonly db: SqlDatabase,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    migrateModule(db, 'audit', STEPS);
    this.prepared = statementCache(db);
    this.insert = db.prepare(
      'INSERT INTO audit_log (at, actor, role, action, target, school, outcome, detail, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
  }

  record(entry: AuditEntry): void {
    this.write(entry, this.now().toISOString());
  }

  /** Entries gathered before (reads, written in batches), each with its own time, in one transaction. */
  recordMany(entries: (AuditEntry & { at: string })[]): void {
    this.db.transaction(() => {
      for (const { at, ...entry } of entries) this.write(entry, at);
    })();
  }

  private write(entry: AuditEntry, at: string): void {
    try {
      // In a savepoint of its own: on PostgreSQL a failed statement aborts the transaction it is in,
      // and an entry that cannot be written must not take the rest of a batch (or a caller's work) with it.
      this.db.transaction(() =>
        this.insert.run(
          at,
          entry.actor,
          entry.role ?? null,
          entry.action,
          entry.target ?? null,
          entry.school ?? null,
          entry.outcome,
          entry.detail ? JSON.stringify(entry.detail) : null,
          entry.ip ?? null,
        ),
      )();
    } catch (error) {
      this.logger.error({ err: error, audit: entry }, 'audit entry could not be written');
    }
  }

  query(filter: AuditFilter): StoredAuditEntry[] {
    const where = whereOf([
      ['school = ?', filter.school],
      ['actor = ?', filter.actor],
      ['action = ?', filter.action],
      ['target = ?', filter.target],
      ['outcome = ?', filter.outcome],
      ['id < ?', filter.before],
    ]);
    const sql = `SELECT * FROM audit_log ${where.sql} ORDER BY id DESC LIMIT ?`;
    return (this.prepared(sql).all(...where.params, Math.floor(filter.limit)) as AuditRow[]).map(toEntry);
  }
}
