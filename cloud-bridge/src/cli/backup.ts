import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import { writeFileDurable } from '@educard/terminal-sdk/files';
import type { Command } from 'commander';
import {
  livePostgresDump,
  makeBackup,
  newBackupKey,
  openSealedFile,
  RestoreRefused,
  restoreBackup,
  restorePostgres,
  sqliteDump,
} from '../backup/index.js';
import { configPath, DEFAULT_CONFIG, readBridgeConfig } from './client.js';

const RECIPIENT = /^age1[0-9a-z]{58}$/;
const IDENTITY = /^AGE-SECRET-KEY-1[0-9A-Z]{58}$/m;

const configOption = (command: Command) =>
  command.option(
    '--config <file>',
    `the bridge config (default: $EDUCARD_BRIDGE_CONFIG or ${DEFAULT_CONFIG})`,
  );

/** `age1…` as given, or the first such line of a file (a recipients file, age-keygen's output). */
async function recipientOf(given: string): Promise<string> {
  if (RECIPIENT.test(given)) return given;
  let text: string;
  try {
    text = await readFile(given, 'utf8');
  } catch {
    throw usageError(
      `--recipient ${given} is neither a public key (age1…) nor a readable file holding one`,
      'make a key pair with `educard-bridge backup-key --out FILE` on the machine that keeps it offline',
    );
  }
  const found = text.match(/age1[0-9a-z]{58}/);
  if (!found) throw usageError(`${given} holds no public key (age1…)`);
  return found[0];
}

async function backup(options: { config?: string; to: string; recipient: string; json?: boolean }) {
  const recipient = await recipientOf(options.recipient);
  const config = await readBridgeConfig(configPath(options.config));
  const to = resolve(options.to);
  const from = { retention: config.retention, central: config.central.mode, now: () => new Date() };
  const dump = config.store
    ? livePostgresDump({ url: config.store.url, leaseTtlMs: config.cluster.leaseTtlMs, ...from })
    : sqliteDump({ database: join(config.dataDir, 'bridge.db'), ...from });
  let report: Awaited<ReturnType<typeof makeBackup>>;
  try {
    report = await makeBackup(dump, to, recipient);
  } catch (error) {
    throw new CliError(`the backup failed: ${(error as Error).message}; nothing was written to ${to}`, 1);
  }
  print(
    options.json,
    report,
    () =>
      `backup written to ${report.file} (${report.bytes} bytes, encrypted to ${recipient.slice(0, 12)}…): ${report.events} events, ${
        report.purgeHeldBy
          ? `the live purge left to ${report.purgeHeldBy} (it holds the retention lease: what its last run has not removed is in the backup).`
          : `${report.purged} past their retention left out.`
      }`,
  );
}

async function restore(options: {
  config?: string;
  from: string;
  identity: string;
  dataDir?: string;
  replace?: boolean;
  json?: boolean;
}) {
  let identity: string;
  try {
    identity = (await readFile(options.identity, 'utf8')).match(IDENTITY)?.[0] ?? '';
  } catch (error) {
    throw usageError(`cannot read --identity ${options.identity}: ${(error as Error).message}`);
  }
  if (!identity) throw usageError(`${options.identity} holds no backup identity (AGE-SECRET-KEY-1…)`);
  const config = options.dataDir ? undefined : await readBridgeConfig(configPath(options.config));
  if (config?.store) return restoreIntoPostgres(options.from, identity, config.store.url, options);
  const dataDir = resolve(options.dataDir ?? (config as { dataDir: string }).dataDir);
  await reportRestore(
    options.json,
    () =>
      restoreBackup({
        from: resolve(options.from),
        identity,
        dataDir,
        replace: options.replace ?? false,
        now: new Date(),
      }),
    (report) =>
      `restored ${report.database}: ${report.events} events, schema ${report.schema}` +
      (report.replaced ? `; the database that was there is kept as ${report.replaced}` : ''),
    `nothing in ${dataDir} was changed`,
  );
}

/** `restore` where the config names a PostgreSQL store: the archive opened privately, then pg_restore. */
async function restoreIntoPostgres(
  from: string,
  identity: string,
  url: string,
  options: { replace?: boolean; json?: boolean },
) {
  const work = await mkdtemp(join(tmpdir(), 'educard-restore-'));
  try {
    const archive = join(work, 'bridge.dump');
    await reportRestore(
      options.json,
      async () => {
        await openSealedFile(resolve(from), archive, identity);
        return restorePostgres({ archive, url, replace: options.replace ?? false, now: new Date() });
      },
      (report) =>
        `restored the store (schema ${report.schema}): ${report.events} events` +
        (report.replaced ? `; the tables that were there are kept in schema ${report.replaced}` : ''),
      'the store was not changed',
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Runs a restore and prints what it did, or says why not and what was left as it was (exit 1). */
async function reportRestore<R extends object>(
  json: boolean | undefined,
  restoring: () => Promise<R>,
  done: (report: R) => string,
  unchanged: string,
): Promise<void> {
  let report: R;
  try {
    report = await restoring();
  } catch (error) {
    if (error instanceof RestoreRefused) throw new CliError(error.message, 1);
    throw new CliError(
      `the backup could not be restored: ${(error as Error).message}; ${unchanged}`,
      1,
      'check that the identity is the one whose public key the backup was made for, and that the file is whole',
    );
  }
  print(json, report, () => `${done(report)}. Start the bridge.`);
}

async function backupKey(options: { out: string; json?: boolean }) {
  const { identity, recipient } = await newBackupKey();
  const out = resolve(options.out);
  await writeFileDurable(
    out,
    `# educard-bridge backup identity: keep it offline. Public key: ${recipient}\n${identity}\n`,
    0o600,
  );
  print(
    options.json,
    { identity: out, recipient },
    () =>
      `identity written to ${out} (keep it offline, never on the bridge).\nPublic key for --recipient: ${recipient}`,
  );
}

export function registerBackup(program: Command): void {
  example(
    configOption(
      program
        .command('backup')
        .description(
          "a consistent copy of the bridge's database while it runs, without what is past its retention, encrypted to a public key whose private half is kept offline (an age file)",
        )
        .requiredOption('--to <file>', 'the encrypted backup to write')
        .requiredOption('--recipient <key>', 'the public key (age1…), or a file holding it')
        .option('--json', 'print the result as JSON'),
    ).action(backup),
    'educard-bridge backup --to /var/backups/educard/bridge-2027-03-15.age --recipient age1…',
    'educard-bridge backup --to bridge.age --recipient /etc/educard/backup-recipient.txt --json',
  );
  example(
    configOption(
      program
        .command('restore')
        .description(
          'opens a backup with its identity, checks it, and puts it in place as the bridge database (stop the bridge first)',
        )
        .requiredOption('--from <file>', 'the encrypted backup')
        .requiredOption(
          '--identity <file>',
          'the identity file (AGE-SECRET-KEY-1…) made by backup-key or age-keygen',
        )
        .option(
          '--data-dir <dir>',
          "where to restore a SQLite store (default: the config's dataDir; with store.url in the config, into that PostgreSQL store)",
        )
        .option('--replace', 'keep the database already there aside (renamed) and restore in its place')
        .option('--json', 'print the result as JSON'),
    ).action(restore),
    'educard-bridge restore --from bridge-2027-03-15.age --identity /media/usb/backup-identity.txt --replace',
  );
  example(
    program
      .command('backup-key')
      .description(
        'makes a backup key pair: the identity file to keep offline, and the public key for --recipient',
      )
      .requiredOption('--out <file>', 'where to write the identity (mode 600)')
      .option('--json', 'print as JSON')
      .action(backupKey),
    'educard-bridge backup-key --out /media/usb/backup-identity.txt',
  );
}
