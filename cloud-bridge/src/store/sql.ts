import type Database from 'better-sqlite3';

/** The SQL the backend speaks: a module gives its schema steps (and any query that differs) in each. */
export type SqlDialect = 'sqlite' | 'postgres';

export interface SqlRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement. Parameters are positional (`?`) or, with one object, named (`@name`), as
 * better-sqlite3 takes them; the PostgreSQL backend rewrites both to `$n`.
 */
export interface SqlStatement<P extends unknown[] = unknown[], R = unknown> {
  run(...params: P): SqlRunResult;
  get(...params: P): R | undefined;
  all(...params: P): R[];
  /** Rows as their first column's value. */
  pluck(toggle?: boolean): this;
  /** Rows as arrays of column values. */
  raw(toggle?: boolean): this;
}

// biome-ignore lint/suspicious/noExplicitAny: the transaction keeps the wrapped function's own signature
type AnyFunction = (...params: any[]) => unknown;

export interface SqlTransaction<F extends AnyFunction> {
  (...params: Parameters<F>): ReturnType<F>;
  /** Takes the write lock before the first read (SQLite's BEGIN IMMEDIATE; PostgreSQL's default). */
  immediate(...params: Parameters<F>): ReturnType<F>;
}

/**
 * One connection to the bridge's database, as every module reaches it: synchronous, as better-sqlite3
 * is, so that a module's storage code is the same on both backends and a projection runs inside the
 * commit that calls it. A nested `transaction` joins the one it runs in.
 */
export interface SqlDatabase {
  readonly dialect: SqlDialect;
  prepare<P extends unknown[] | object = unknown[], R = unknown>(
    sql: string,
  ): P extends unknown[] ? SqlStatement<P, R> : SqlStatement<[P], R>;
  transaction<F extends AnyFunction>(fn: F): SqlTransaction<F>;
  exec(sql: string): void;
  /**
   * A database server this connection lost and could not connect to again, as of its last statement
   * (a file on this host, SQLite's, is never unreachable).
   */
  unreachable?(): DatabaseUnreachable | undefined;
}

export interface DatabaseUnreachable {
  /** Why the last attempt to connect failed. */
  error: string;
  failedAgoMs: number;
  /** Until then statements fail at once; the first statement after it connects again. */
  nextAttemptInMs: number;
}

/** better-sqlite3 as a SqlDatabase: its statements and transactions are handed out as they are. */
export function sqliteDatabase(db: Database.Database): SqlDatabase {
  return {
    dialect: 'sqlite',
    prepare: (sql) => db.prepare(sql) as never,
    transaction: (fn) => db.transaction(fn) as never,
    exec: (sql) => {
      db.exec(sql);
    },
  };
}

/**
 * Inside a transaction: waits for, then holds until its end, the lock named `name` of this store, so
 * that one instance at a time of those sharing a PostgreSQL store does what follows (SQLite has one
 * writer, and one instance).
 */
export function lockWithinTransaction(db: SqlDatabase, name: string): void {
  if (db.dialect === 'postgres')
    db.prepare('SELECT pg_advisory_xact_lock(hashtext(current_schema() || ?)) AS locked').get(`/${name}`);
}

/** Whether a table exists: one module asks about another's tables it may run without (a bridge with no library). */
export function tableExists(db: SqlDatabase, name: string): boolean {
  const sql =
    db.dialect === 'postgres'
      ? 'SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = ?'
      : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?";
  return db.prepare(sql).get(name) !== undefined;
}

/**
 * A module's schema steps, one list per dialect (step for step the same tables), or one list of
 * SQLite's from a module not yet ported to PostgreSQL (its statements have not been checked there).
 * Never edit a step: add one.
 */
export type ModuleSteps = string[] | Record<SqlDialect, string[]>;

function stepsFor(db: SqlDatabase, module: string, given: ModuleSteps): string[] {
  if (!Array.isArray(given)) return given[db.dialect];
  if (db.dialect === 'sqlite') return given;
  throw new Error(
    `the ${module} module keeps its tables on SQLite only: it has no PostgreSQL schema yet (docs/scale-out.md)`,
  );
}

/**
 * Runs a module's own schema steps not yet run (counted per module in `module_schema`), each in the
 * transaction that records it; returns the version the module's tables had before.
 */
export function migrateModule(db: SqlDatabase, module: string, given: ModuleSteps): number {
  const steps = stepsFor(db, module, given);
  return db
    .transaction(() => {
      // Instances starting together on a new schema: PostgreSQL's CREATE TABLE IF NOT EXISTS is not
      // safe against a concurrent one (the loser fails on pg_type's unique key), so they queue first.
      if (db.dialect === 'postgres') {
        // A schema step may wait as long as it takes for the tables it changes, and an instance
        // starting for the one migrating before it (LOCK_WAIT_MS bounds every other statement); a
        // back-fill may run as long as the store is large (STATEMENT_TIMEOUT_MS bounds the others).
        db.exec('SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0');
        db.prepare('SELECT pg_advisory_xact_lock(1297040460, hashtext(current_schema())) AS locked').get();
      }
      db.exec('CREATE TABLE IF NOT EXISTS module_schema (module TEXT PRIMARY KEY, version INTEGER NOT NULL)');
      const held =
        db
          .prepare<[string], { version: number }>('SELECT version FROM module_schema WHERE module = ?')
          .get(module)?.version ?? 0;
      if (held > steps.length)
        throw new Error(
          `the ${module} tables are at schema ${held}, newer than this bridge knows: upgrade the bridge`,
        );
      if (held === steps.length) return held;
      for (let step = held; step < steps.length; step++) db.exec(steps[step] as string);
      db.prepare(
        'INSERT INTO module_schema (module, version) VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET version = excluded.version',
      ).run(module, steps.length);
      return held;
    })
    .immediate();
}
