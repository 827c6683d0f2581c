import type { SqlDatabase } from './sql.js';

/**
 * The advisory lock every transaction inserting events holds, shared, from before its first event
 * id to its end: keyed by the schema, so stores on other schemas of the server do not count.
 */
export const WRITING_EVENTS_LOCK = 'pg_advisory_xact_lock_shared(1162101059, hashtext(current_schema()))';

/** Probes taken while events were being written, each kept until those writers have all ended. */
const MAX_WAITING = 256;

/**
 * On PostgreSQL, with several bridge instances committing at once, an event's id is taken when its
 * row is inserted but seen only when its transaction commits: id 100 may appear after a reader has
 * seen 101 and moved its cursor past it. This tells such a reader how far it may go: the largest id
 * a probe saw, once every transaction that was writing events at that probe has ended. A writer that
 * holds an id below it took the lock before the id, so it was one of those (or had committed).
 *
 * Each call costs one query; it answers at once when nobody is writing events, else from earlier
 * calls: a reader that polls (the notice ledger, the file export, an API client's `after`) lags one
 * poll behind ingest at most.
 */
export function settledEventIds(db: SqlDatabase): () => number {
  const probe = db.prepare<[], { top: number; writers: string }>(
    `SELECT coalesce((SELECT max(id) FROM events), 0) AS top,
            coalesce((SELECT string_agg(virtualtransaction, ' ') FROM pg_locks
                      WHERE locktype = 'advisory' AND granted AND objsubid = 2
                        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND classid = CAST(1162101059 AS oid)
                        AND objid = CAST(hashtext(current_schema()) AS oid)), '') AS writers`,
  );
  let settled = 0;
  let waiting: { writers: string[]; top: number }[] = [];
  return () => {
    const row = probe.get();
    if (!row) return settled;
    const writing = new Set(row.writers.split(' ').filter(Boolean));
    for (const earlier of waiting)
      if (!earlier.writers.some((writer) => writing.has(writer))) settled = Math.max(settled, earlier.top);
    waiting = waiting.filter((earlier) => earlier.writers.some((writer) => writing.has(writer)));
    if (writing.size === 0) settled = Math.max(settled, row.top);
    else {
      waiting.push({ writers: [...writing], top: row.top });
      if (waiting.length > MAX_WAITING) waiting.shift();
    }
    return settled;
  };
}
