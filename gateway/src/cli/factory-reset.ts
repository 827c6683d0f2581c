import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { controlSocketPath, type GatewayConfig } from '../config/index.js';
import { JournalDamaged, JournalReader } from '../journal/index.js';
import { fsyncDirectory } from '../storage/index.js';
import { configPath, readConfig, requireStopped, wantsJson } from './context.js';
import { journalDir } from './journal.js';

interface Target {
  path: string;
  what: string;
}

/** Events the bridge has not acknowledged: the journal's tip less the cursor, read without writing. */
async function undelivered(config: GatewayConfig): Promise<{ count: number; oldestAt: string | undefined }> {
  let reader: JournalReader;
  try {
    reader = await JournalReader.open(journalDir(config));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { count: 0, oldestAt: undefined };
    throw error;
  }
  const acked = reader.cursor.acked.seq;
  const count = Math.max(0, reader.tip().seq - acked);
  let oldestAt: string | undefined;
  if (count > 0) {
    try {
      oldestAt = reader.records(acked + 1, acked + 1).next().value?.record.at;
    } catch (error) {
      if (!(error instanceof JournalDamaged)) throw error;
    }
  }
  return { count, oldestAt };
}

/** What the device holds in its data directory: named one by one, never the directory wholesale. */
async function targets(config: GatewayConfig, path: string): Promise<Target[]> {
  const { dataDir } = config;
  const named: Target[] = [
    { path: join(dataDir, 'journal'), what: 'the event journal' },
    { path: join(dataDir, 'roster'), what: 'the roster and its pinned trust anchor' },
    { path: resolve(dataDir, config.identity.keyFile), what: 'the device key' },
    { path: join(dataDir, 'clock.json'), what: 'the clock time floor' },
    { path: join(dataDir, 'uplink.json'), what: 'the uplink state' },
    { path: controlSocketPath(config), what: 'the control socket' },
  ];
  // Temporary files a durable write cut short left beside them (".clock.json.<pid>.<n>.tmp").
  const prefixes = named.map((target) => `.${basename(target.path)}.`);
  const leftovers = ((await readdir(dataDir).catch(() => [])) as string[])
    .filter((name) => name.endsWith('.tmp') && prefixes.some((prefix) => name.startsWith(prefix)))
    .map((name) => ({ path: join(dataDir, name), what: 'a temporary file left by a write cut short' }));
  const found: Target[] = [];
  for (const target of [...named, ...leftovers]) {
    if (await lstat(target.path).catch(() => undefined)) found.push(target);
  }
  found.push({ path: resolve(path), what: 'the configuration' });
  return found;
}

export function registerFactoryReset(program: Command): void {
  example(
    program
      .command('factory-reset')
      .description(
        'erase what this gateway holds (journal, roster, device key, clock, uplink state) and its configuration; the gateway must be stopped',
      )
      .option('-y, --yes', 'do not ask for confirmation')
      .option('--force', 'erase even events not yet delivered to the bridge (they are lost)')
      .option('--json', 'print what was removed as JSON'),
    'sudo systemctl stop educard-gateway && sudo educard factory-reset',
    'sudo educard factory-reset --yes',
  ).action(async (options: { yes?: boolean; force?: boolean }, command: Command) => {
    const path = configPath(command);
    const config = await readConfig(path);
    await requireStopped(config, 'a factory reset');
    const lost = await undelivered(config);
    if (lost.count > 0 && !options.force) {
      throw new CliError(
        `${lost.count} events not yet delivered to the bridge would be lost (oldest from ${lost.oldestAt ?? 'an unreadable record'})`,
        1,
        config.uplink
          ? 'Start the gateway with its uplink and wait until `educard status` shows a backlog of 0, or add --force'
          : 'This gateway has no uplink: save them first (sudo educard journal export --full-card-ids --out FILE), then add --force',
      );
    }
    const list = await targets(config, path);
    if (!options.yes) {
      if (!process.stdin.isTTY) {
        throw usageError(
          'factory-reset asks for confirmation, and standard input is not a terminal',
          `Add --yes to confirm${lost.count > 0 ? ' (with --force: the undelivered events are lost)' : ''}`,
        );
      }
      const { confirm } = await import('@inquirer/prompts');
      const yes = await confirm({
        message: `Erase gateway ${config.device.id} (school ${config.device.school}): ${list.map((t) => basename(t.path)).join(', ')}?${
          lost.count > 0 ? ` ${lost.count} events not yet delivered to the bridge will be LOST.` : ''
        }`,
        default: false,
      });
      if (!yes) throw new CliError('factory reset cancelled: nothing was removed');
    }
    for (const target of list) await rm(target.path, { recursive: true, force: true });
    const emptied = await rmdir(config.dataDir).then(
      () => true,
      () => false,
    );
    if (emptied)
      list.splice(list.length - 1, 0, { path: config.dataDir, what: 'the data directory, now empty' });
    for (const dir of new Set([emptied ? dirname(config.dataDir) : config.dataDir, dirname(resolve(path))])) {
      await fsyncDirectory(dir).catch(() => undefined);
    }
    const tls = config.uplink?.tls;
    const kept = tls ? [tls.ca, tls.cert, tls.key].filter((file): file is string => file !== undefined) : [];
    const data = { removed: list, lostEvents: lost.count, kept };
    print(wantsJson(command), data, () =>
      [
        'factory reset done; removed:',
        ...list.map((t) => `  ${t.path}  (${t.what})`),
        ...(lost.count > 0 ? [`${lost.count} events not delivered to the bridge were erased`] : []),
        ...(kept.length
          ? [
              `kept (named by uplink.tls, perhaps shared): ${kept.join(', ')}; remove the device's own certificate and key yourself`,
            ]
          : []),
        'To provision this gateway again: sudo educard init',
      ].join('\n'),
    );
  });
}
