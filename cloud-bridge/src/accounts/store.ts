import type { AccountRole } from '../access/index.js';
import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';
import type { Account } from './types.js';

/**
 * The second step: failed sign-ins per source address, shared by the instances on one store (each
 * counted its own before, so N instances let an address try N times as often).
 */
const ADDRESS_THROTTLE = {
  sqlite: `CREATE TABLE login_address_throttle (
     address_key TEXT PRIMARY KEY,
     failures INTEGER NOT NULL,
     since INTEGER NOT NULL,
     locked_until INTEGER,
     updated_at INTEGER NOT NULL
   );`,
  postgres: `CREATE TABLE login_address_throttle (
     address_key TEXT COLLATE "C" PRIMARY KEY,
     failures INTEGER NOT NULL,
     since BIGINT NOT NULL,
     locked_until BIGINT,
     updated_at BIGINT NOT NULL
   );`,
};

const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE accounts (
     id TEXT PRIMARY KEY,
     username TEXT NOT NULL,
     username_key TEXT NOT NULL UNIQUE,
     display_name TEXT NOT NULL,
     role TEXT NOT NULL,
     school TEXT,
     class_name TEXT,
     password_hash TEXT NOT NULL,
     disabled INTEGER NOT NULL DEFAULT 0,
     created_at TEXT NOT NULL,
     last_login_at TEXT,
     password_changed_at TEXT NOT NULL
   );
   CREATE INDEX accounts_school ON accounts (school);
   CREATE TABLE account_sessions (
     token_sha256 TEXT PRIMARY KEY,
     account_id TEXT NOT NULL REFERENCES accounts (id),
     created_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL
   );
   CREATE INDEX account_sessions_account ON account_sessions (account_id);
   CREATE TABLE login_throttle (
     username_key TEXT PRIMARY KEY,
     failures INTEGER NOT NULL,
     locked_until INTEGER,
     updated_at INTEGER NOT NULL
   );`,
    ADDRESS_THROTTLE.sqlite,
  ],
  postgres: [
    `CREATE TABLE accounts (
       id TEXT COLLATE "C" PRIMARY KEY,
       username TEXT NOT NULL,
       username_key TEXT COLLATE "C" NOT NULL UNIQUE,
       display_name TEXT NOT NULL,
       role TEXT NOT NULL,
       school TEXT COLLATE "C",
       class_name TEXT,
       password_hash TEXT NOT NULL,
       disabled INTEGER NOT NULL DEFAULT 0,
       created_at TEXT NOT NULL,
       last_login_at TEXT,
       password_changed_at TEXT NOT NULL
     );
     CREATE INDEX accounts_school ON accounts (school);
     CREATE TABLE account_sessions (
       token_sha256 TEXT PRIMARY KEY,
       account_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
       created_at BIGINT NOT NULL,
       last_seen_at BIGINT NOT NULL
     );
     CREATE INDEX account_sessions_account ON account_sessions (account_id);
     CREATE TABLE login_throttle (
       username_key TEXT COLLATE "C" PRIMARY KEY,
       failures INTEGER NOT NULL,
       locked_until BIGINT,
       updated_at BIGINT NOT NULL
     );`,
    ADDRESS_THROTTLE.postgres,
  ],
};

export interface StoredAccount extends Account {
  passwordHash: string;
}

interface AccountRow {
  id: string;
  username: string;
  display_name: string;
  role: AccountRole;
  school: string | null;
  class_name: string | null;
  password_hash: string;
  disabled: number;
  created_at: string;
  last_login_at: string | null;
  password_changed_at: string;
}

const toAccount = (row: AccountRow): StoredAccount => ({
  id: row.id,
  username: row.username,
  displayName: row.display_name,
  role: row.role,
  ...(row.school !== null ? { school: row.school } : {}),
  ...(row.class_name !== null ? { className: row.class_name } : {}),
  disabled: row.disabled !== 0,
  createdAt: row.created_at,
  ...(row.last_login_at !== null ? { lastLoginAt: row.last_login_at } : {}),
  passwordChangedAt: row.password_changed_at,
  passwordHash: row.password_hash,
});

/** Usernames compare without case (and in Unicode's compatibility form): `Li.Wei` and `li.wei` are one. */
export const usernameKey = (username: string) => username.normalize('NFKC').toLowerCase();

export interface SessionRow {
  accountId: string;
  createdAt: number;
  lastSeenAt: number;
}

/** A failure counter's row once a failure is counted. */
interface FailureRow {
  failures: number;
  locked_until: number | null;
}

/**
 * Locks a counter that has just reached its attempts and is not locked yet; true for the one call
 * whose update took (the lock statement changes only an unlocked row).
 */
function lockOnce(
  row: FailureRow,
  lock: { attempts: number; until: number },
  statement: { run(until: number, key: string): { changes: number } },
  key: string,
): boolean {
  if (Number(row.failures) < lock.attempts || row.locked_until !== null) return false;
  return statement.run(lock.until, key).changes === 1;
}

/** The accounts module's tables: accounts, sessions (by token hash) and failed-login counters. */
export class AccountTables {
  private readonly s;

  constructor(db: SqlDatabase) {
    migrateModule(db, 'accounts', STEPS);
    this.s = {
      insert: db.prepare(
        `INSERT INTO accounts (id, username, username_key, display_name, role, school, class_name, password_hash,
           disabled, created_at, password_changed_at)
         VALUES (@id, @username, @usernameKey, @displayName, @role, @school, @className, @passwordHash, 0, @createdAt, @createdAt)`,
      ),
      update: db.prepare(
        `UPDATE accounts SET display_name = @displayName, role = @role, school = @school, class_name = @className,
           disabled = @disabled, password_hash = @passwordHash, password_changed_at = @passwordChangedAt WHERE id = @id`,
      ),
      byId: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?'),
      byKey: db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE username_key = ?'),
      all: db.prepare<[], AccountRow>('SELECT * FROM accounts ORDER BY username_key'),
      ofSchool: db.prepare<[string], AccountRow>(
        'SELECT * FROM accounts WHERE school = ? ORDER BY username_key',
      ),
      // Counted inside the transaction that may disable one. SQLite's immediate transaction holds the
      // whole database; on PostgreSQL the counted rows are locked, so that two admins demoting each
      // other on two instances cannot both find the other still enabled.
      enabledDistrictAdmins: db.prepare<[], { n: number }>(
        db.dialect === 'postgres'
          ? `SELECT count(*) AS n FROM (SELECT 1 FROM accounts WHERE role = 'district-admin' AND disabled = 0 FOR UPDATE) AS enabled`
          : "SELECT count(*) AS n FROM accounts WHERE role = 'district-admin' AND disabled = 0",
      ),
      loggedIn: db.prepare('UPDATE accounts SET last_login_at = ? WHERE id = ?'),
      insertSession: db.prepare(
        'INSERT INTO account_sessions (token_sha256, account_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)',
      ),
      session: db.prepare<[string], { account_id: string; created_at: number; last_seen_at: number }>(
        'SELECT account_id, created_at, last_seen_at FROM account_sessions WHERE token_sha256 = ?',
      ),
      touchSession: db.prepare('UPDATE account_sessions SET last_seen_at = ? WHERE token_sha256 = ?'),
      deleteSession: db.prepare('DELETE FROM account_sessions WHERE token_sha256 = ?'),
      deleteSessionsOf: db.prepare('DELETE FROM account_sessions WHERE account_id = ?'),
      deleteExpired: db.prepare('DELETE FROM account_sessions WHERE last_seen_at < ? OR created_at < ?'),
      throttle: db.prepare<[string], { failures: number; locked_until: number | null }>(
        'SELECT failures, locked_until FROM login_throttle WHERE username_key = ?',
      ),
      // One statement, so that failures of one name on several instances at once each count; a
      // lock that has run out starts the count afresh.
      nameFailure: db.prepare<{ key: string; now: number }, FailureRow>(
        `INSERT INTO login_throttle (username_key, failures, locked_until, updated_at) VALUES (@key, 1, NULL, @now)
         ON CONFLICT (username_key) DO UPDATE SET
           failures = CASE WHEN login_throttle.locked_until <= @now THEN 1 ELSE login_throttle.failures + 1 END,
           locked_until = CASE WHEN login_throttle.locked_until <= @now THEN NULL
                               ELSE login_throttle.locked_until END,
           updated_at = @now
         RETURNING failures, locked_until`,
      ),
      lockName: db.prepare(
        'UPDATE login_throttle SET locked_until = ? WHERE username_key = ? AND locked_until IS NULL',
      ),
      clearThrottle: db.prepare('DELETE FROM login_throttle WHERE username_key = ?'),
      forgetThrottles: db.prepare(
        'DELETE FROM login_throttle WHERE updated_at < ? AND (locked_until IS NULL OR locked_until < ?)',
      ),
      addressLock: db
        .prepare<[string], number | null>(
          'SELECT locked_until FROM login_address_throttle WHERE address_key = ?',
        )
        .pluck(),
      // One statement, so that attempts on several instances at once each count.
      addressFailure: db.prepare<{ key: string; now: number; windowStart: number }, FailureRow>(
        `INSERT INTO login_address_throttle (address_key, failures, since, locked_until, updated_at)
           VALUES (@key, 1, @now, NULL, @now)
         ON CONFLICT (address_key) DO UPDATE SET
           failures = CASE WHEN login_address_throttle.since < @windowStart THEN 1
                           ELSE login_address_throttle.failures + 1 END,
           locked_until = CASE WHEN login_address_throttle.since < @windowStart THEN NULL
                               ELSE login_address_throttle.locked_until END,
           since = CASE WHEN login_address_throttle.since < @windowStart THEN @now
                        ELSE login_address_throttle.since END,
           updated_at = @now
         RETURNING failures, locked_until`,
      ),
      lockAddress: db.prepare(
        'UPDATE login_address_throttle SET locked_until = ? WHERE address_key = ? AND locked_until IS NULL',
      ),
      addressSucceeded: db.prepare(
        'UPDATE login_address_throttle SET failures = failures - 1 WHERE address_key = ? AND failures > 0',
      ),
      forgetAddresses: db.prepare(
        'DELETE FROM login_address_throttle WHERE updated_at < ? AND (locked_until IS NULL OR locked_until < ?)',
      ),
    };
  }

  insert(account: StoredAccount): void {
    this.s.insert.run({
      ...account,
      usernameKey: usernameKey(account.username),
      school: account.school ?? null,
      className: account.className ?? null,
    });
  }
  update(account: StoredAccount): void {
    this.s.update.run({
      ...account,
      school: account.school ?? null,
      className: account.className ?? null,
      disabled: account.disabled ? 1 : 0,
    });
  }
  byId(id: string): StoredAccount | undefined {
    const row = this.s.byId.get(id);
    return row ? toAccount(row) : undefined;
  }
  byUsername(username: string): StoredAccount | undefined {
    const row = this.s.byKey.get(usernameKey(username));
    return row ? toAccount(row) : undefined;
  }
  list(school?: string): StoredAccount[] {
    return (school === undefined ? this.s.all.all() : this.s.ofSchool.all(school)).map(toAccount);
  }
  enabledDistrictAdmins(): number {
    return this.s.enabledDistrictAdmins.get()?.n ?? 0;
  }
  loggedIn(id: string, at: string): void {
    this.s.loggedIn.run(at, id);
  }

  insertSession(tokenSha256: string, accountId: string, nowMs: number): void {
    this.s.insertSession.run(tokenSha256, accountId, nowMs, nowMs);
  }
  session(tokenSha256: string): SessionRow | undefined {
    const row = this.s.session.get(tokenSha256);
    return row
      ? { accountId: row.account_id, createdAt: row.created_at, lastSeenAt: row.last_seen_at }
      : undefined;
  }
  touchSession(tokenSha256: string, nowMs: number): void {
    this.s.touchSession.run(nowMs, tokenSha256);
  }
  deleteSession(tokenSha256: string): void {
    this.s.deleteSession.run(tokenSha256);
  }
  /** Ends every session of an account; returns how many there were. */
  deleteSessionsOf(accountId: string): number {
    return this.s.deleteSessionsOf.run(accountId).changes;
  }
  deleteExpiredSessions(idleBeforeMs: number, createdBeforeMs: number): void {
    this.s.deleteExpired.run(idleBeforeMs, createdBeforeMs);
  }

  throttle(key: string): { failures: number; lockedUntil?: number } | undefined {
    const row = this.s.throttle.get(key);
    if (!row) return undefined;
    return {
      failures: row.failures,
      ...(row.locked_until !== null ? { lockedUntil: row.locked_until } : {}),
    };
  }
  /**
   * Counts a failed sign-in of a name; locks it until `lock.until` when the count reaches
   * `lock.attempts`. `locked` is true for the one failure that locked it, whatever the other instances
   * do at the same moment.
   */
  nameFailure(
    key: string,
    nowMs: number,
    lock: { attempts: number; until: number },
  ): { failures: number; locked: boolean } {
    const row = this.s.nameFailure.get({ key, now: nowMs }) as FailureRow;
    return { failures: Number(row.failures), locked: lockOnce(row, lock, this.s.lockName, key) };
  }
  clearThrottle(key: string): void {
    this.s.clearThrottle.run(key);
  }
  forgetThrottles(beforeMs: number, nowMs: number): void {
    this.s.forgetThrottles.run(beforeMs, nowMs);
    this.s.forgetAddresses.run(beforeMs, nowMs);
  }

  /** Until when an address is locked out, if it is. */
  addressLockedUntil(key: string): number | undefined {
    const until = this.s.addressLock.get(key);
    return until === null || until === undefined ? undefined : Number(until);
  }
  /**
   * Counts a failure of an address in its window (one that began before `window.start` starts
   * afresh); locks it until `window.lockUntil` when the count reaches `window.attempts`. True when
   * this failure locked it: one instance's answer, whatever the others do at the same moment.
   */
  addressFailure(
    key: string,
    nowMs: number,
    window: { start: number; attempts: number; lockUntil: number },
  ): boolean {
    const row = this.s.addressFailure.get({ key, now: nowMs, windowStart: window.start }) as FailureRow;
    return lockOnce(row, { attempts: window.attempts, until: window.lockUntil }, this.s.lockAddress, key);
  }
  addressSucceeded(key: string): void {
    this.s.addressSucceeded.run(key);
  }
}
