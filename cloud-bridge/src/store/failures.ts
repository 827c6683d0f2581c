import type { Logger } from 'pino';
import { isDatabaseUnreachable } from './pg-connection.js';

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
