import { createRequire } from 'node:module';
import type { DatabaseUnreachable, SqlDatabase, SqlRunResult, SqlStatement } from './sql.js';

/** The part of node-postgres's libpq binding (`libpq`, an optional dependency) the store uses. */
interface LibPq {
  connectSync(url: string): void;
  finish(): void;
  exec(sql: string): void;
  prepare(name: string, sql: string, nParams: number): void;
  execPrepared(name: string, params: (string | null)[]): void;
  resultStatus(): string;
  resultErrorMessage(): string;
  resultErrorFields(): { sqlState?: string } | undefined;
  errorMessage(): string;
  /** 0 idle, 1 active, 2 in a transaction, 3 in a failed one, 4 unknown: the connection is gone. */
  transactionStatus(): number;
  ntuples(): number;
  nfields(): number;
  fname(column: number): string;
  ftype(column: number): number;
  getvalue(row: number, column: number): string;
  getisnull(row: number, column: number): boolean;
  cmdTuples(): string;
  clear(): void;
}

export const LIBPQ_REMEDY =
  'the PostgreSQL store needs the libpq module (an optional dependency, built against libpq-dev): apt-get install -y libpq-dev, then npm install';

function loadLibPq(): new () => LibPq {
  try {
    return createRequire(import.meta.url)('libpq') as new () => LibPq;
  } catch (error) {
    throw new Error(`${LIBPQ_REMEDY} (${(error as Error).message})`);
  }
}

/**
 * `url` with `parameters` added to its query, as written (libpq's URLs with an empty host, for a
 * unix socket, do not survive a WHATWG URL round trip unchanged).
 */
function withParameters(url: string, parameters: [string, string][]): string {
  if (!parameters.length) return url;
  const added = parameters.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
  const joiner = !url.includes('?') ? '?' : url.endsWith('?') ? '' : '&';
  return `${url}${joiner}${added}`;
}

/** `url` with its connections' tables in `schema` (libpq's `options=-c search_path=…`). */
export function withSearchPath(url: string, schema: string): string {
  return withParameters(url, [['options', `-c search_path=${schema}`]]);
}

/**
 * An error PostgreSQL answered, or the connection to it failed with, and its SQLSTATE (23505 a unique
 * violation, 40001 a serialization failure, class 08 the connection). `nextAttemptInMs` is only on a
 * statement failed at once between attempts to connect again: when the next attempt is due.
 */
export class PostgresError extends Error {
  constructor(
    message: string,
    readonly sqlState: string | undefined,
    readonly nextAttemptInMs?: number,
  ) {
    super(message);
    this.name = 'PostgresError';
  }
}

/** libpq's PQTRANS_INTRANS and PQTRANS_INERROR: the session is inside a transaction block. */
const IN_TRANSACTION = new Set([2, 3]);
/** SQLSTATE 08006, connection_failure: a connection lost under a statement (libpq names none). */
const CONNECTION_LOST = '08006';
/** SQLSTATE 08001, sqlclient_unable_to_establish_sqlconnection: an attempt to connect again that failed. */
const CANNOT_CONNECT = '08001';
/** SQLSTATEs of a server ending its sessions: admin_shutdown, crash_shutdown, cannot_connect_now. */
const SERVER_GOING = new Set(['57P01', '57P02', '57P03']);

/**
 * Whether a statement failed at once because the server could not be reached at the last attempt:
 * every statement fails so until the next, and says nothing the first failure did not.
 */
export function isDatabaseUnreachable(error: unknown): error is PostgresError {
  return error instanceof PostgresError && error.nextAttemptInMs !== undefined;
}

/**
 * Whether the server could not be reached: at the last attempt (the statement failed at once), or at
 * the attempt this statement made itself. Either way the caller is told the server is unreachable.
 */
export function isServerUnreachable(error: unknown): error is PostgresError {
  return (
    isDatabaseUnreachable(error) || (error instanceof PostgresError && error.sqlState === CANNOT_CONNECT)
  );
}

/**
 * Whether a statement failed for the connection, not for what it asked: the connection lost under
 * it, an attempt to connect again refused or timed out, the server shutting down, or one of the
 * failures at once after (isDatabaseUnreachable). The same statement may succeed later.
 */
export function isConnectionFailure(error: unknown): error is PostgresError {
  return (
    error instanceof PostgresError &&
    error.sqlState !== undefined &&
    (error.sqlState.startsWith('08') || SERVER_GOING.has(error.sqlState))
  );
}

// Column types by OID: integers and numerics come back as numbers (ids, counts and sums fit in a
// double here), bytea as bytes; everything else as its text.
const NUMBER_TYPES = new Set([20, 21, 23, 26, 700, 701, 1700]);
const BOOL = 16;
const BYTEA = 17;

function parse(type: number, text: string): unknown {
  if (NUMBER_TYPES.has(type)) return Number(text);
  if (type === BOOL) return text === 't';
  if (type === BYTEA) return Buffer.from(text.slice(2), 'hex');
  return text;
}

function param(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
  throw new TypeError(`cannot bind a ${typeof value} to a PostgreSQL parameter`);
}

/**
 * better-sqlite3's placeholders in PostgreSQL's: each `?` becomes the next `$n`, each `@name` the
 * `$n` of that name (the same for every use). Quoted text and identifiers are left as they are.
 */
export function toPostgresSql(sql: string): { text: string; names?: string[]; count: number } {
  const names: string[] = [];
  let positional = 0;
  const text = sql.replace(
    /'(?:[^']|'')*'|"(?:[^"]|"")*"|\?|@([A-Za-z_][A-Za-z0-9_]*)/g,
    (match, name: string | undefined) => {
      if (match === '?') return `$${++positional}`;
      if (name === undefined) return match;
      let index = names.indexOf(name);
      if (index < 0) index = names.push(name) - 1;
      return `$${index + 1}`;
    },
  );
  if (positional && names.length) throw new Error('a statement takes ? or @name parameters, not both');
  return names.length ? { text, names, count: names.length } : { text, count: positional };
}

type Shape = 'objects' | 'pluck' | 'raw';

/**
 * Connections just finished, kept from the garbage collector for a moment: libpq's binding closes
 * its poll handle asynchronously inside the object it frees, and libuv aborts the process when the
 * object goes first.
 */
const finishing = new Set<LibPq>();
function finish(pq: LibPq): void {
  pq.finish();
  finishing.add(pq);
  setTimeout(() => finishing.delete(pq), 1000).unref();
}

/**
 * How long the server lets a session of ours sit inside a transaction without a statement. Ours
 * never do (a transaction runs in one turn of the event loop): one that does belongs to an instance
 * that froze mid-transaction, or lost the network, and holds its locks (devices' commit locks among
 * them) until TCP notices, which can take hours. The server ends it, and the locks go with it.
 */
export const IDLE_IN_TRANSACTION_MS = 5000;
/**
 * How long a statement waits for a lock before it fails. Statements block the event loop (the
 * connection is synchronous), so a lock held elsewhere without end (an operator's session left in a
 * transaction) would stop the whole instance: it fails instead, as any failed statement does, and
 * nothing half-done is acknowledged (a device sends its batch again). Longer than
 * IDLE_IN_TRANSACTION_MS, so a lock held by a frozen instance of ours is waited out. Schema steps
 * wait without a bound (migrateModule): instances starting together queue behind one another.
 */
export const LOCK_WAIT_MS = 10_000;

/**
 * How long a statement may run before the server cancels it (`store.statementTimeoutMs`). The
 * instance's event loop waits for every statement, so one that runs without end (a plan gone wrong
 * on a large table, a page asking for more than its indexes serve) would hold ingest, acks and the
 * broker's keepalives with it: the server cancels it instead (SQLSTATE 57014), the statement fails
 * as any failed one does, and the connection serves the next. Schema steps run without the bound
 * (migrateModule): a back-fill on a large store takes as long as it takes.
 */
export const STATEMENT_TIMEOUT_MS = 15_000;

/** SQLSTATE 57014, query_canceled: here, a statement past the session's statement_timeout. */
const QUERY_CANCELED = '57014';

/** Whether a statement failed because it ran past the statement timeout (STATEMENT_TIMEOUT_MS). */
export function isStatementTimedOut(error: unknown): error is PostgresError {
  return error instanceof PostgresError && error.sqlState === QUERY_CANCELED;
}

/** How the bridge's sessions are set up, beyond the URL. */
export interface PostgresSessionOptions {
  /** STATEMENT_TIMEOUT_MS unless given. */
  statementTimeoutMs?: number;
}

/**
 * libpq's own bounds on a server that is gone from the network, for what the URL does not set.
 * A statement blocks the instance's event loop, and without them TCP decides how long: a connection
 * to a host that vanished waits ~2 minutes, one to an address that accepts and never answers (a hung
 * server, a proxy in front of a dead one) forever, and a statement sent into a partition ~15 minutes
 * of retransmissions. With them: 10 s to connect; data unacknowledged for 20 s, or an idle
 * connection whose peer stops answering keepalives (10 s, then 3 probes 5 s apart), ends the
 * connection; the statement fails, and the next one connects again. Unix sockets ignore the TCP
 * ones. An operator's URL may set any of them otherwise.
 */
export const CONNECTION_BOUNDS = {
  connect_timeout: '10',
  keepalives: '1',
  keepalives_idle: '10',
  keepalives_interval: '5',
  keepalives_count: '3',
  tcp_user_timeout: '20000',
} as const;

/** `url` with CONNECTION_BOUNDS for the parameters it does not name. */
export function withConnectionBounds(url: string): string {
  const query = url.includes('?') ? url.slice(url.indexOf('?') + 1) : '';
  const named = new Set(query.split('&').map((pair) => decodeURIComponent(pair.split('=')[0] ?? '')));
  return withParameters(
    url,
    Object.entries(CONNECTION_BOUNDS).filter(([name]) => !named.has(name)),
  );
}

/**
 * After a connection is lost and connecting again fails, how long statements fail at once before
 * the next attempt: the first wait, doubled at each failure up to the last. An attempt at a server
 * gone from the network holds the event loop for connect_timeout; without the waits every statement
 * of an instance cut off would make one, and the instance would be frozen for as long as the cut
 * lasts. With them it answers (health, the broker's keepalives, pages saying the database is
 * unreachable) most of that time, and is back within the last wait of the server's return.
 */
export const RECONNECT_WAITS_MS = { first: 1000, last: 30_000 } as const;

function connect(PQ: new () => LibPq, url: string, statementTimeoutMs: number): LibPq {
  const pq = new PQ();
  pq.connectSync(withConnectionBounds(url));
  // Notices (a table that already exists, skipped) are not for the bridge's stderr.
  pq.exec(
    `SET client_min_messages = warning; SET idle_in_transaction_session_timeout = ${IDLE_IN_TRANSACTION_MS}; SET lock_timeout = ${LOCK_WAIT_MS}; SET statement_timeout = ${statementTimeoutMs}`,
  );
  if (pq.resultStatus() !== 'PGRES_COMMAND_OK') {
    const message = pq.resultErrorMessage() || pq.errorMessage();
    finish(pq);
    throw new PostgresError(`PostgreSQL refused the session's settings: ${message.trim()}`, undefined);
  }
  return pq;
}

/**
 * One PostgreSQL connection as a SqlDatabase, synchronous like better-sqlite3: each statement is a
 * round trip over libpq (a unix socket on one host), prepared once per connection. A connection
 * found broken is ended by the statement that found it, which throws (08006, or the server's own
 * SQLSTATE), and made again before the next statement. A transaction it was in is lost: every
 * statement of that transaction after it fails too, its COMMIT included, so nothing half-done is
 * acknowledged. When connecting again fails, statements fail at once until the next attempt is due
 * (RECONNECT_WAITS_MS).
 */
export function openPostgresConnection(
  url: string,
  { statementTimeoutMs = STATEMENT_TIMEOUT_MS }: PostgresSessionOptions = {},
): SqlDatabase & { close(): void } {
  if (!Number.isInteger(statementTimeoutMs) || statementTimeoutMs < 1)
    throw new RangeError(
      `statementTimeoutMs must be a positive whole number of ms, not ${statementTimeoutMs}`,
    );
  const PQ = loadLibPq();
  let pq: LibPq | undefined = connect(PQ, url, statementTimeoutMs);
  let prepared = new Map<string, string>();
  let depth = 0;
  /** The connection was lost inside the transaction under way: the rest of it must fail. */
  let lostInTransaction = false;
  let unreachable: { reason: string; at: number; waitMs: number } | undefined;
  let closed = false;

  /**
   * Ends a connection found broken, in the statement that found it. libpq has already closed its
   * socket, and the descriptor's number goes to the next socket the process opens; the binding's
   * finish takes that number off the event loop's epoll set, so finishing it at the next statement
   * stopped whichever socket had taken the number meanwhile (an HTTP request's, a device's): it
   * waited for ever. Nothing of the event loop can open a socket before this runs.
   */
  const lose = (broken: LibPq) => {
    finish(broken);
    pq = undefined;
    if (depth > 0) lostInTransaction = true;
  };
  const check = (conn: LibPq, what: string) => {
    const status = conn.resultStatus();
    if (
      status === 'PGRES_FATAL_ERROR' ||
      status === 'PGRES_BAD_RESPONSE' ||
      status === 'PGRES_NONFATAL_ERROR'
    ) {
      const message = conn.resultErrorMessage() || conn.errorMessage();
      // A connection that broke under the statement is in no transaction state libpq knows (4).
      const lost = conn.transactionStatus() === 4;
      const error = new PostgresError(
        `${message.trim()} (in ${what.slice(0, 200)})`,
        conn.resultErrorFields()?.sqlState ?? (lost ? CONNECTION_LOST : undefined),
      );
      if (lost) lose(conn);
      throw error;
    }
  };
  const unreachableNow = (): DatabaseUnreachable | undefined => {
    if (!unreachable) return undefined;
    const now = performance.now();
    return {
      error: unreachable.reason,
      failedAgoMs: Math.round(now - unreachable.at),
      nextAttemptInMs: Math.max(0, Math.round(unreachable.at + unreachable.waitMs - now)),
    };
  };
  /** The connection, made again if it was lost, unless an attempt failed too recently. */
  const connection = (): LibPq => {
    if (pq) return pq;
    if (closed) throw new Error('the PostgreSQL connection is closed');
    if (lostInTransaction) {
      throw new PostgresError(
        'the connection to PostgreSQL was lost in this transaction: nothing of it is committed',
        CONNECTION_LOST,
      );
    }
    const down = unreachableNow();
    if (down?.nextAttemptInMs) {
      throw new PostgresError(
        `PostgreSQL is unreachable: connecting failed ${Math.round(down.failedAgoMs / 1000)} s ago, next attempt in ${Math.ceil(down.nextAttemptInMs / 1000)} s (${down.error})`,
        CANNOT_CONNECT,
        down.nextAttemptInMs,
      );
    }
    let made: LibPq;
    try {
      made = connect(PQ, url, statementTimeoutMs);
    } catch (error) {
      const waitMs = unreachable
        ? Math.min(unreachable.waitMs * 2, RECONNECT_WAITS_MS.last)
        : RECONNECT_WAITS_MS.first;
      const reason = (error as Error).message.trim();
      unreachable = { reason, at: performance.now(), waitMs };
      // The session's settings refused is the server's answer, not the connection's failure.
      if (error instanceof PostgresError) throw error;
      throw new PostgresError(
        `PostgreSQL is unreachable: connecting again failed (${reason})`,
        CANNOT_CONNECT,
      );
    }
    unreachable = undefined;
    prepared = new Map();
    pq = made;
    return made;
  };
  const exec = (sql: string) => {
    const conn = connection();
    conn.exec(sql);
    check(conn, sql);
  };
  const rows = (conn: LibPq, shape: Shape): unknown[] => {
    const count = conn.ntuples();
    const columns = conn.nfields();
    const names = Array.from({ length: columns }, (_, c) => conn.fname(c));
    const types = Array.from({ length: columns }, (_, c) => conn.ftype(c));
    const value = (r: number, c: number) =>
      conn.getisnull(r, c) ? null : parse(types[c] as number, conn.getvalue(r, c));
    const out: unknown[] = new Array(count);
    for (let r = 0; r < count; r++) {
      if (shape === 'pluck') out[r] = value(r, 0);
      else if (shape === 'raw') out[r] = Array.from({ length: columns }, (_, c) => value(r, c));
      else {
        const row: Record<string, unknown> = {};
        for (let c = 0; c < columns; c++) row[names[c] as string] = value(r, c);
        out[r] = row;
      }
    }
    return out;
  };

  const statement = (sql: string): SqlStatement => {
    const { text, names, count } = toPostgresSql(sql);
    let shape: Shape = 'objects';
    const execute = (params: unknown[]): LibPq => {
      const conn = connection();
      let name = prepared.get(text);
      if (name === undefined) {
        name = `s${prepared.size + 1}`;
        conn.prepare(name, text, count);
        check(conn, sql);
        prepared.set(text, name);
      }
      const values = names
        ? names.map((key) => param((params[0] as Record<string, unknown>)[key]))
        : params.map(param);
      conn.execPrepared(name, values);
      check(conn, sql);
      return conn;
    };
    const self: SqlStatement = {
      run(...params): SqlRunResult {
        return { changes: Number(execute(params).cmdTuples()) || 0, lastInsertRowid: 0 };
      },
      get(...params) {
        return rows(execute(params), shape)[0];
      },
      all(...params) {
        return rows(execute(params), shape);
      },
      pluck(toggle = true) {
        shape = toggle ? 'pluck' : 'objects';
        return self;
      },
      raw(toggle = true) {
        shape = toggle ? 'raw' : 'objects';
        return self;
      },
    };
    return self;
  };

  const transaction = <F extends (...params: never[]) => unknown>(fn: F) => {
    const run = (...params: Parameters<F>): ReturnType<F> => {
      // Nested: a savepoint within the transaction it runs in, as better-sqlite3 does.
      const savepoint = depth > 0 ? `sp${depth}` : undefined;
      exec(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      depth++;
      try {
        const result = fn(...params) as ReturnType<F>;
        exec(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : 'COMMIT');
        return result;
      } catch (error) {
        // Undone at this level while the connection is there to undo it; a lost one undid it all.
        const conn = pq;
        if (conn) {
          // A COMMIT that failed (a deferred check) ended the transaction itself: nothing to undo.
          if (IN_TRANSACTION.has(conn.transactionStatus()))
            conn.exec(
              savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` : 'ROLLBACK',
            );
          if (conn.transactionStatus() === 4) lose(conn);
        }
        throw error;
      } finally {
        depth--;
        if (depth === 0) lostInTransaction = false;
      }
    };
    return Object.assign(run, { immediate: run });
  };

  return {
    dialect: 'postgres',
    prepare: ((sql: string) => statement(sql)) as SqlDatabase['prepare'],
    transaction: transaction as SqlDatabase['transaction'],
    exec,
    unreachable: unreachableNow,
    close() {
      if (pq) finish(pq);
      pq = undefined;
      closed = true;
    },
  };
}
