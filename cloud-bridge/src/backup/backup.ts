import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkSqliteFile, type DumpReport, type StoreDump } from './dump.js';
import { openSealedFile, sealFile } from './seal.js';

export interface BackupReport extends DumpReport {
  file: string;
  bytes: number;
}

/** The plain copy never leaves a private temporary directory, and is gone once it is sealed. */
export async function makeBackup(dump: StoreDump, to: string, recipient: string): Promise<BackupReport> {
  const work = await mkdtemp(join(tmpdir(), 'educard-backup-'));
  try {
    const plain = join(work, 'bridge.db');
    const report = await dump.dump(plain);
    const partial = `${to}.partial`;
    await sealFile(plain, partial, recipient);
    await rename(partial, to);
    return { ...report, file: to, bytes: (await stat(to)).size };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A restore refused before anything changed: a database already there, or a backup of another kind. */
export class RestoreRefused extends Error {}

export interface RestoreReport {
  database: string;
  events: number;
  schema: number;
  /** Where the database that was there before went. */
  replaced?: string;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Opens a backup with its identity into the data directory, checks it (integrity, a schema this bridge
 * knows), and only then puts it in place. A database already there is kept beside it, renamed, and
 * only with `replace`; the bridge must be stopped meanwhile.
 */
export async function restoreBackup(options: {
  from: string;
  identity: string;
  dataDir: string;
  replace: boolean;
  now: Date;
}): Promise<RestoreReport> {
  const database = join(options.dataDir, 'bridge.db');
  if ((await exists(database)) && !options.replace)
    throw new RestoreRefused(
      `${database} exists: stop the bridge and run again with --replace to keep it aside and restore`,
    );
  await mkdir(options.dataDir, { recursive: true });
  const restoring = `${database}.restoring`;
  try {
    await openSealedFile(options.from, restoring, options.identity);
    const checked = checkSqliteFile(restoring);
    let replaced: string | undefined;
    if (await exists(database)) {
      replaced = `${database}.replaced-${options.now.toISOString().replace(/[:.]/g, '-')}`;
      for (const suffix of ['', '-wal', '-shm'])
        if (await exists(database + suffix)) await rename(database + suffix, replaced + suffix);
    }
    await rename(restoring, database);
    return { database, ...checked, ...(replaced ? { replaced } : {}) };
  } finally {
    await rm(restoring, { force: true });
  }
}
