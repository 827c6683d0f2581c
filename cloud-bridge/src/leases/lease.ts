import type { Logger } from 'pino';
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

export interface LeaseOptions {
  /** How long a lease lasts unrenewed; another instance takes over within this and one `renewMs`. */
  ttlMs?: number;
  /** How often the holder renews and the others try. */
  renewMs?: number;
  logger?: Logger;
}

/**
 * One instance's hold on a named lease: it tries every `renewMs`, runs `onGain` when it takes the
 * lease and `onLoss` when it finds it gone (or could not renew in time: a holder that cannot reach
 * the database stops its work before another may start it).
 */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private heldUntil = 0;
  private term: number | undefined;
  private readonly ttlMs: number;
  private readonly renewMs: number;

  constructor(
    private readonly table: LeaseTable,
    readonly name: string,
    readonly holder: string,
    private readonly events: { onGain?: (term: number) => void; onLoss?: () => void },
    private readonly options: LeaseOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 6000;
    this.renewMs = options.renewMs ?? Math.max(100, Math.floor(this.ttlMs / 3));
  }

  /** Held, and renewed recently enough by this process's own clock that no one else can have it. */
  get held(): boolean {
    return this.term !== undefined && performance.now() < this.heldUntil;
  }

  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.renewMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.term === undefined) return;
    this.lose();
    try {
      this.table.release(this.name, this.holder);
    } catch (error) {
      this.options.logger?.warn({ lease: this.name, err: error }, 'lease not released: it expires instead');
    }
  }

  private tick(): void {
    // Measured from before the attempt, so the local deadline falls before the database's.
    const asked = performance.now();
    let taken: LeaseState | undefined;
    try {
      taken = this.table.take(this.name, this.holder, this.ttlMs);
    } catch (error) {
      this.options.logger?.warn({ lease: this.name, err: error }, 'lease not renewed: database unreachable');
      if (this.term !== undefined && !this.held) this.lose();
      return;
    }
    if (!taken) {
      if (this.term !== undefined) this.lose();
      return;
    }
    this.heldUntil = asked + this.ttlMs;
    if (this.term !== taken.term) {
      this.term = taken.term;
      this.options.logger?.info({ lease: this.name, term: taken.term }, 'lease taken');
      this.events.onGain?.(taken.term);
    }
  }

  private lose(): void {
    this.term = undefined;
    this.heldUntil = 0;
    this.options.logger?.info({ lease: this.name }, 'lease lost');
    this.events.onLoss?.();
  }
}
