import Database from 'better-sqlite3';
import { pino } from 'pino';
import { AuditLog } from '../accounts/index.js';
import { LoanLedger } from '../library/index.js';
import { type CentralAcks, Retention, type RetentionConfig, type RetentionDeps } from '../retention/index.js';
import { type SqlDatabase, sqliteDatabase, tableExists } from '../store/index.js';
import { MIGRATIONS } from '../store/migrations.js';
import { forgetBookingsBefore } from '../venues/index.js';

/**
 * A store backend's consistent copy of itself, to one plain file, the bridge running: SQLite's online
 * backup API (sqliteDump), PostgreSQL's `pg_dump` of the store's schema (postgres.ts).
 */
export interface StoreDump {
  readonly kind: string;
  dump(target: string): Promise<DumpReport>;
}

export interface DumpReport {
  kind: string;
  events: number;
  /**
   * Events past their retention left out of the copy: SQLite's are purged from the copy (the live
   * bridge's purge takes them later), PostgreSQL's from the live store before the dump.
   */
  purged: number;
  /** PostgreSQL: the bridge instance whose live purge stands (it holds the retention lease); none ran here. */
  purgeHeldBy?: string;
}

/**
 * What the purge forgets of pupils beside their events and the audit entries, from the tables a copy
 * holds as they are: the class visits booked before their venue's retention (with their pupils' cards)
 * and the loans returned before their school's (a pupil's reading). A store whose bridge never had a
 * module has none of its tables: nothing of it to forget, and nothing made for it. A copy takes no commits.
 */
export function pupilRecordsForgotten(
  db: SqlDatabase,
): Pick<RetentionDeps, 'forgetBookings' | 'forgetLoans'> {
  const steps: Pick<RetentionDeps, 'forgetBookings' | 'forgetLoans'> = {};
  if (tableExists(db, 'venue_bookings'))
    steps.forgetBookings = (cutoffOf) => forgetBookingsBefore(db, cutoffOf);
  if (tableExists(db, 'loans')) {
    const ledger = new LoanLedger({ database: db, addCommitProjection: () => undefined });
    steps.forgetLoans = (cutoffOf, signal) => ledger.forgetReturned(cutoffOf, signal);
  }
  return steps;
}

/**
 * SQLite: the online backup API copies the database page by page while the bridge writes; then the
 * copy loses what is past its retention (the same rules and the same exceptions as the live purge,
 * the audit log's, past class visits' and returned loans' included),
 * and is vacuumed so that no removed row stays behind in a free page.
 */
export function sqliteDump(options: {
  database: string;
  retention: RetentionConfig;
  central: CentralAcks;
  now: () => Date;
}): StoreDump {
  return {
    kind: 'sqlite',
    async dump(target) {
      const source = new Database(options.database, { fileMustExist: true });
      try {
        source.pragma('busy_timeout = 5000');
        await source.backup(target);
      } finally {
        source.close();
      }
      const copy = new Database(target);
      try {
        copy.pragma('journal_mode = DELETE');
        const db = sqliteDatabase(copy);
        const silent = pino({ level: 'silent' });
        const retention = new Retention({
          db,
          config: { ...options.retention, purgeShare: 1, purgeRate: null },
          central: options.central,
          // The copy's purge repeats the live bridge's rules: the live purge is the one audited.
          audit: { record: () => undefined },
          logger: silent,
          now: options.now,
          purgeAudit: (before, pace, signal) =>
            new AuditLog(db, silent, options.now).purgeBefore(before, pace, signal),
          ...pupilRecordsForgotten(db),
        });
        const report = await retention.runOnce();
        copy.exec('VACUUM');
        const { n } = copy.prepare('SELECT count(*) AS n FROM events').get() as { n: number };
        return { kind: 'sqlite', events: n, purged: report.removed };
      } finally {
        copy.close();
      }
    },
  };
}

/** Checks a restored SQLite file before it takes the place of a bridge's database. */
export function checkSqliteFile(path: string): { events: number; schema: number } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') throw new Error(`the restored database is damaged: ${String(integrity)}`);
    const schema = db.pragma('user_version', { simple: true }) as number;
    if (schema > MIGRATIONS.length)
      throw new Error(`the backup is of a newer bridge (schema ${schema}): upgrade this bridge first`);
    const { n } = db.prepare('SELECT count(*) AS n FROM events').get() as { n: number };
    return { events: n, schema };
  } finally {
    db.close();
  }
}
