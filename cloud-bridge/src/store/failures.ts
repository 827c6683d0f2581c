import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import { isDatabaseUnreachable, PostgresError } from './pg-connection.js';

/** SQLSTATE 53100, disk_full. */
const DISK_FULL = '53100';

/**
 * Whether a write failed because the store's disk has no room left (SQLite's SQLITE_FULL, PostgreSQL's
 * disk_full): the same write may succeed once space is freed, so it is the operator's trouble, not a
 * bug of the request.
 */
export function isStoreFull(error: unknown): boolean {
  if (error instanceof PostgresError) return error.sqlState === DISK_FULL;
  return error instanceof Database.SqliteError && error.code === 'SQLITE_FULL';
}

/**
 * Logs a failure of periodic or per-message work at error (or `level`), unless it is a statement
 * failed at once because the database could not be reached at the last attempt
 * (isDatabaseUnreachable): those come at every round and every batch until it is back, thousands a
 * minute on a district's bridge, and say nothing new. The failure that found it gone is logged at
 * error, so is each attempt to connect again, each lease renewal that fails warns (every 2 s with the
 * default lease), and /health says so: they go at debug.
 */
export function logFailure(
  logger: Pick<Logger, 'debug' | 'warn' | 'error'>,
  fields: Record<string, unknown> & { err: unknown },
  message: string,
  level: 'warn' | 'error' = 'error',
): void {
  if (isDatabaseUnreachable(fields.err)) logger.debug(fields, message);
  else logger[level](fields, message);
}
