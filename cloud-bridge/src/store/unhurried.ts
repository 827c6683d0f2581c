import type { SqlDatabase } from './sql.js';

/**
 * Runs `work` in its own transaction, committed without waiting for the disk: SQLite's `synchronous
 * = NORMAL` for this commit alone, PostgreSQL's `synchronous_commit = off`. For writes that may be
 * lost to a power cut without harm or are redone (a purge batch, a batch of read audit entries): the
 * next commit that waits (ingest's, say) makes them durable with its own. The database stays whole
 * either way; only the wait for the disk, which every other writer paid for too, is spared.
 */
export function commitUnhurried<T>(db: SqlDatabase, work: () => T): T {
  if (db.dialect === 'postgres')
    return db
      .transaction(() => {
        db.exec('SET LOCAL synchronous_commit = off');
        return work();
      })
      .immediate();
  const held = db.prepare<[], { synchronous: number }>('PRAGMA synchronous').get()?.synchronous ?? 2;
  db.exec('PRAGMA synchronous = NORMAL');
  try {
    return db.transaction(work).immediate();
  } finally {
    db.exec(`PRAGMA synchronous = ${held}`);
  }
}
