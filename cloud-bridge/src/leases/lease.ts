import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

/**
 * Leases for singleton work shared by several bridge instances on one database (the central
 * outbox, the feed pull, notices, the attendance export): one holder at a time, until it stops
 * renewing. Times are the database's clock, so instances on hosts whose clocks differ agree.
 */
const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE leases (
       name TEXT PRIMARY KEY,
       holder TEXT NOT NULL,
       term INTEGER NOT NULL,
       expires_at INTEGER NOT NULL
     );`,
  ],
  postgres: [
    `CREATE TABLE leases (
       name TEXT COLLATE "C" PRIMARY KEY,
       holder TEXT NOT NULL,
       term BIGINT NOT NULL,
       expires_at BIGINT NOT NULL
     );`,
  ],
};

/** The database's clock in milliseconds since the epoch. */
const NOW_MS = {
  sqlite: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
  postgres: '(extract(epoch from clock_timestamp()) * 1000)::bigint',
};

export interface LeaseState {
  name: string;
  holder: string;
  /** Counts the hands the lease has passed through: a fencing token for work done under it. */
  term: number;
  expiresAt: number;
}

/** The leases table of one database. */
export class LeaseTable {
  private readonly s;

  constructor(db: SqlDatabase) {
    migrateModule(db, 'leases', STEPS);
    const now = NOW_MS[db.dialect];
    this.s = {
      // One statement, so two instances cannot both take it: the row is theirs only if they held
      // it or it had expired.
      take: db.prepare<[string, string, number], { holder: string; term: number; expires_at: number }>(
        `INSERT INTO leases (name, holder, term, expires_at) VALUES (?, ?, 1, ${now} + ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
           term = CASE WHEN leases.holder = excluded.holder THEN leases.term ELSE leases.term + 1 END
         WHERE leases.holder = excluded.holder OR leases.expires_at < ${now}
         RETURNING holder, term, expires_at`,
      ),
      release: db.prepare<[string, string]>('DELETE FROM leases WHERE name = ? AND holder = ?'),
      get: db.prepare<[string], { name: string; holder: string; term: number; expires_at: number }>(
        'SELECT * FROM leases WHERE name = ?',
      ),
      // Names are compared as text in the C collation on both backends, so a prefix is a range.
      live: db.prepare<[string, string], { holder: string }>(
        `SELECT holder FROM leases WHERE name >= ? AND name < ? AND expires_at >= ${now} ORDER BY name`,
      ),
    };
  }

  /** Takes or renews `name` for `ttlMs`; undefined when another holder has it and it has not expired. */
  take(name: string, holder: string, ttlMs: number): LeaseState | undefined {
    const row = this.s.take.get(name, holder, Math.round(ttlMs));
    return row && { name, holder: row.holder, term: Number(row.term), expiresAt: Number(row.expires_at) };
  }

  /** Gives the lease up at once (a clean stop), so another instance need not wait for it to expire. */
  release(name: string, holder: string): void {
    this.s.release.run(name, holder);
  }

  /** The holders of the unexpired leases whose names start with `prefix`. */
  liveHolders(prefix: string): string[] {
    return this.s.live.all(prefix, `${prefix}\u{10FFFF}`).map((row) => row.holder);
  }

  get(name: string): LeaseState | undefined {
    const row = this.s.get.get(name);
    return row && { name, holder: row.holder, term: Number(row.term), expiresAt: Number(row.expires_at) };
  }
}
