import { execFile } from 'node:child_process';
import { open } from 'node:fs/promises';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { AuditLog } from '../accounts/index.js';
import { LeaseTable } from '../leases/index.js';
import { type CentralAcks, RETENTION_LEASE, Retention, type RetentionConfig } from '../retention/index.js';
import { openPostgresStore, withConnectionBounds } from '../store/index.js';
import { RestoreRefused } from './backup.js';
import { type DumpReport, pupilRecordsForgotten, type StoreDump } from './dump.js';

const run = promisify(execFile);

// psql, pg_dump and pg_restore are PostgreSQL's client tools: Debian's `postgresql-client` puts them
// on the PATH. They connect with the bridge's own bounds (withConnectionBounds): a server gone from
// the network fails a backup or a restore, instead of holding it until TCP gives up (or for ever).

/** One value a query gives, through psql (the URL's options, a search_path say, apply). */
async function psqlValue(url: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', [
    '-v',
    'ON_ERROR_STOP=1',
    '-qAt',
    '-d',
    withConnectionBounds(url),
    '-c',
    sql,
  ]);
  return stdout.trim();
}

/** The schema the store's tables are in: the first of the URL's search_path (`public` by default), made or not. */
async function storeSchema(url: string): Promise<string> {
  const path = await psqlValue(url, 'SHOW search_path');
  return (
    path
      .split(',')
      .map((name) => name.trim().replace(/^"(.*)"$/, '$1'))
      .find((name) => name !== '$user' && name !== '') ?? 'public'
  );
}

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

export interface LivePurge {
  removed: number;
  /** A bridge instance holds the retention lease: the purge is its (its rules), the backup ran none. */
  heldBy?: string;
}

/**
 * A PostgreSQL store's copy: the live purge first (the same rules and exceptions as the bridge's
 * hourly run, and, as that one, audited), so nothing past its retention is left to copy; then
 * `pg_dump` of the store's schema (the URL's `search_path`, `public` by default) in its custom
 * format, one consistent snapshot while the bridge writes. Unlike SQLite's, the copy is not purged
 * on its own: PostgreSQL has no file to copy and change, and the live purge is what the bridge does
 * anyway.
 */
export function postgresDump(options: {
  url: string;
  /** The live purge: how many events it removed, or the instance whose purge stands. */
  purge: () => Promise<LivePurge>;
}): StoreDump {
  return {
    kind: 'postgres',
    async dump(target): Promise<DumpReport> {
      const { removed: purged, heldBy } = await options.purge();
      const schema = await storeSchema(options.url);
      await run('pg_dump', [
        '--format=custom',
        '--no-owner',
        '--no-privileges',
        `--schema=${schema}`,
        `--file=${target}`,
        `--dbname=${withConnectionBounds(options.url)}`,
      ]);
      const events = Number(await psqlValue(options.url, 'SELECT count(*) FROM events'));
      return { kind: 'postgres', events, purged, ...(heldBy ? { purgeHeldBy: heldBy } : {}) };
    },
  };
}

/** Whether a file is a pg_dump archive (and not SQLite's), by its magic. */
const isPostgresArchive = (head: Uint8Array) =>
  Buffer.from(head.subarray(0, 5)).toString('latin1') === 'PGDMP';

/**
 * Restores a pg_dump archive into the store at `url`: its schema must not hold the bridge's tables,
 * unless `replace`: then the schema there is kept aside (renamed, never dropped).
 * pg_restore stops at the first error, and the whole restore is one transaction: a failed one leaves
 * nothing behind. Returns the events restored.
 */
export async function restorePostgres(options: {
  archive: string;
  url: string;
  /** Keep a store already there aside, as `SCHEMA_replaced_TIME`, and restore in its place. */
  replace: boolean;
  now: Date;
}): Promise<{ events: number; schema: string; replaced?: string }> {
  const head = Buffer.alloc(5);
  const file = await open(options.archive, 'r');
  try {
    await file.read(head, 0, 5, 0);
  } finally {
    await file.close();
  }
  if (!isPostgresArchive(head))
    throw new RestoreRefused(
      'the backup is not of a PostgreSQL store (a SQLite one restores without store.url)',
    );
  await run('pg_restore', ['--list', options.archive]);
  const schema = await storeSchema(options.url);
  const held = await psqlValue(
    options.url,
    `SELECT count(*) FROM information_schema.tables WHERE table_schema = '${schema.replaceAll("'", "''")}' AND table_name = 'events'`,
  );
  if (held !== '0' && !options.replace)
    throw new RestoreRefused(
      `schema ${schema} holds a bridge's tables already: stop the bridge and run again with --replace to keep them aside and restore`,
    );
  const replaceAs = `${schema}_replaced_${options.now.toISOString().replace(/\D/g, '').slice(0, 14)}`;
  // The archive makes its schema itself: the one there goes aside (with `replaceAs`), or, empty, away
  // (DROP SCHEMA without CASCADE refuses one that holds anything).
  await psqlValue(
    options.url,
    held !== '0'
      ? `ALTER SCHEMA ${quoted(schema)} RENAME TO ${quoted(replaceAs)}`
      : `DROP SCHEMA IF EXISTS ${quoted(schema)}`,
  );
  try {
    await run('pg_restore', [
      '--exit-on-error',
      '--single-transaction',
      '--no-owner',
      '--no-privileges',
      `--dbname=${withConnectionBounds(options.url)}`,
      options.archive,
    ]);
  } catch (error) {
    // One transaction: nothing of the archive is left, so the schema that was there goes back.
    await psqlValue(
      options.url,
      held !== '0'
        ? `ALTER SCHEMA ${quoted(replaceAs)} RENAME TO ${quoted(schema)}`
        : `CREATE SCHEMA IF NOT EXISTS ${quoted(schema)}`,
    );
    throw error;
  }
  const events = Number(await psqlValue(options.url, 'SELECT count(*) FROM events'));
  return { events, schema, ...(held !== '0' ? { replaced: replaceAs } : {}) };
}

/**
 * The backup command's dump of a bridge's PostgreSQL store: its own live purge, audited, then pg_dump.
 * The purge runs under the retention lease, as an instance's hourly run does: with a bridge instance
 * holding it, that instance's purge (and its config's rules) stands and the backup purges nothing, so
 * two purges with different rules never run on one store. The lease is renewed while the purge runs,
 * and the purge stops at a batch's end if it is lost.
 */
export function livePostgresDump(options: {
  url: string;
  retention: RetentionConfig;
  central: CentralAcks;
  now: () => Date;
  leaseTtlMs: number;
}): StoreDump {
  return postgresDump({
    url: options.url,
    purge: async () => {
      const store = openPostgresStore(options.url);
      try {
        const leases = new LeaseTable(store.database);
        const holder = `backup-${hostname()}-${process.pid}`;
        const take = () => leases.take(RETENTION_LEASE, holder, options.leaseTtlMs) !== undefined;
        if (!take()) return { removed: 0, heldBy: leases.get(RETENTION_LEASE)?.holder ?? 'another instance' };
        const logger = pino({ level: 'silent' });
        const audit = new AuditLog(store.database, logger, options.now);
        const retention = new Retention({
          db: store.database,
          config: options.retention,
          central: options.central,
          audit,
          logger,
          now: options.now,
          purgeAudit: (before, pace, signal) => audit.purgeBefore(before, pace, signal),
          ...pupilRecordsForgotten(store.database),
        });
        const renew = setInterval(() => {
          if (!take()) void retention.stop();
        }, options.leaseTtlMs / 3);
        try {
          return { removed: (await retention.runOnce()).removed };
        } finally {
          clearInterval(renew);
          leases.release(RETENTION_LEASE, holder);
        }
      } finally {
        store.close();
      }
    },
  });
}
