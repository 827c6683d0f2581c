import type { Logger } from 'pino';
import type { AccountRole, AuditEntry, AuditSink } from '../access/index.js';
import {
  commitUnhurried,
  inPacedBatches,
  type ModuleSteps,
  migrateModule,
  type Pace,
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
    // The purge after the retention (AuditLog.purgeBefore): a delete is let through only up to a
    // horizon, which only moves forward, only right after the purge's own entry, and never past it.
    `CREATE TABLE audit_purge_horizon (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     up_to_id INTEGER NOT NULL
   );
   INSERT INTO audit_purge_horizon (id, up_to_id) VALUES (1, 0);
   DROP TRIGGER audit_log_no_delete;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
     WHEN OLD.id > (SELECT up_to_id FROM audit_purge_horizon WHERE id = 1)
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: only its purge removes its oldest entries'); END;
   CREATE TRIGGER audit_purge_horizon_forward BEFORE UPDATE ON audit_purge_horizon
     WHEN NEW.id IS NOT 1
       OR NEW.up_to_id < OLD.up_to_id
       OR NEW.up_to_id >= (SELECT max(id) FROM audit_log)
       OR (SELECT action FROM audit_log ORDER BY id DESC LIMIT 1) IS NOT 'audit.purge'
     BEGIN SELECT RAISE(ABORT, 'the audit purge only moves forward, after its own entry'); END;
   CREATE TRIGGER audit_purge_horizon_kept BEFORE DELETE ON audit_purge_horizon
     BEGIN SELECT RAISE(ABORT, 'the audit purge horizon is kept'); END;`,
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
    // The purge's horizon as on SQLite: one function guards deletes of entries, another the horizon.
    `CREATE TABLE audit_purge_horizon (
       id INTEGER PRIMARY KEY CHECK (id = 1),
       up_to_id BIGINT NOT NULL
     );
     INSERT INTO audit_purge_horizon (id, up_to_id) VALUES (1, 0);
     CREATE FUNCTION audit_log_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF OLD.id > (SELECT up_to_id FROM audit_purge_horizon WHERE id = 1) THEN
           RAISE EXCEPTION 'the audit log is append-only: only its purge removes its oldest entries';
         END IF;
         RETURN OLD;
       END $$;
     DROP TRIGGER audit_log_no_delete ON audit_log;
     CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       FOR EACH ROW EXECUTE FUNCTION audit_log_delete_guard();
     CREATE FUNCTION audit_purge_horizon_guard() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP <> 'UPDATE' THEN RAISE EXCEPTION 'the audit purge horizon is kept'; END IF;
         IF NEW.id <> 1
           OR NEW.up_to_id < OLD.up_to_id
           OR NEW.up_to_id >= (SELECT max(id) FROM audit_log)
           OR (SELECT action FROM audit_log ORDER BY id DESC LIMIT 1) IS DISTINCT FROM 'audit.purge' THEN
           RAISE EXCEPTION 'the audit purge only moves forward, after its own entry';
         END IF;
         RETURN NEW;
       END $$;
     CREATE TRIGGER audit_purge_horizon_forward BEFORE UPDATE OR DELETE ON audit_purge_horizon
       FOR EACH ROW EXECUTE FUNCTION audit_purge_horizon_guard();
     CREATE TRIGGER audit_purge_horizon_no_truncate BEFORE TRUNCATE ON audit_purge_horizon
       FOR EACH STATEMENT EXECUTE FUNCTION audit_purge_horizon_guard();`,
  ],
};

/** Entries deleted per transaction by a purge: the API and ingest wait at most one batch. */
const PURGE_BATCH = 1000;

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
 * The audit log: append-only in the bridge's database (triggers refuse UPDATE, and DELETE but for
 * the purge of the oldest entries after the retention), newest first when read. A write that fails is logged and does not fail the request it describes.
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

  /**
   * Entries gathered before (reads, written in batches), each with its own time, in one transaction
   * that does not wait for the disk: a power cut may lose the last batch (half a second of reads),
   * never corrupt the log, and the next commit that waits makes it durable. Waiting was most of what
   * auditing a read cost; a savepoint per entry was much of the rest, so the batch goes in without
   * them, and only a batch that fails is written again entry by entry, each in its own.
   */
  recordMany(entries: (AuditEntry & { at: string })[]): void {
    try {
      commitUnhurried(this.db, () => {
        for (const entry of entries) this.insertEntry(entry, entry.at);
      });
    } catch {
      commitUnhurried(this.db, () => {
        for (const entry of entries) this.write(entry, entry.at);
      });
    }
  }

  private insertEntry(entry: AuditEntry, at: string): void {
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
    );
  }

  private write(entry: AuditEntry, at: string): void {
    try {
      // In a savepoint of its own: on PostgreSQL a failed statement aborts the transaction it is in,
      // and an entry that cannot be written must not take the rest of a batch (or a caller's work) with it.
      this.db.transaction(() => this.insertEntry(entry, at))();
    } catch (error) {
      this.logger.error({ err: error, audit: entry }, 'audit entry could not be written');
    }
  }

  /**
   * Removes the entries older than `before` (the audit log's retention), oldest first: the entries
   * before the first one at or after it. One transaction writes the purge's own entry (`audit.purge`,
   * how many and up to when) and moves the horizon the delete trigger lets through; the deletes then
   * run in small batches, paced as the events' purge is. Nothing else can delete, and no entry newer than the purge's own. The log
   * is not hash-chained, so what remains needs no anchor to be read whole.
   */
  async purgeBefore(before: Date, pace: Pace, signal?: AbortSignal): Promise<number> {
    const upTo = before.toISOString();
    const horizon = this.db
      .transaction(() => {
        const firstKept = this.db
          .prepare<[string], { id: number | null }>('SELECT min(id) AS id FROM audit_log WHERE at >= ?')
          .get(upTo)?.id;
        const held = this.db
          .prepare<[], { id: number }>('SELECT up_to_id AS id FROM audit_purge_horizon WHERE id = 1')
          .get()?.id as number;
        const last = (firstKept ?? Number.MAX_SAFE_INTEGER) - 1;
        const entries = Number(
          this.db
            .prepare<[number, number], { n: number }>(
              'SELECT count(*) AS n FROM audit_log WHERE id > ? AND id <= ?',
            )
            .get(held, last)?.n ?? 0,
        );
        if (entries === 0) return held;
        const lastId = Number(
          this.db
            .prepare<[number], { id: number }>('SELECT max(id) AS id FROM audit_log WHERE id <= ?')
            .get(last)?.id,
        );
        this.write(
          { actor: 'bridge', action: 'audit.purge', outcome: 'ok', detail: { entries, upTo, lastId } },
          this.now().toISOString(),
        );
        this.db.prepare('UPDATE audit_purge_horizon SET up_to_id = ? WHERE id = 1').run(lastId);
        return lastId;
      })
      .immediate();
    const remove = this.db.prepare(
      'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE id <= ? ORDER BY id LIMIT ?)',
    );
    let removed = 0;
    await inPacedBatches(
      pace,
      () => {
        const { changes } = remove.run(horizon, PURGE_BATCH);
        removed += changes;
        return { done: changes < PURGE_BATCH, items: changes };
      },
      signal,
    );
    if (removed > 0) this.logger.info({ entries: removed, upTo }, 'audit log purged after its retention');
    return removed;
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
