import { describeIssues } from '@educard/terminal-sdk';
import { CliError, example, print, table, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { GatewayConfig } from '../config/index.js';
import { terminalCredential } from '../terminals/credentials.js';
import { readRawConfig, writeRawConfig } from './config.js';
import { configPath, SERVICE, wantsJson } from './context.js';

interface RawTerminals {
  terminals?: { terminals?: { id: string; passwordSha256: string; stations: string[] }[] } & Record<
    string,
    unknown
  >;
  pages?: { port?: number };
  station?: { id?: string };
}

/** Validates the whole file as it would be, then writes it; nothing is written when it would be invalid. */
async function save(path: string, raw: RawTerminals): Promise<void> {
  const checked = GatewayConfig.safeParse(raw);
  if (!checked.success)
    throw usageError(`the configuration would not be valid: ${describeIssues(checked.error)}`);
  await writeRawConfig(path, raw);
}

export function registerTerminals(program: Command): void {
  const terminals = example(
    program
      .command('terminals')
      .description("the desk pages and kiosks allowed to use this gateway's station"),
    'sudo educard terminals add desk-1',
    'educard terminals list',
  );
  example(
    terminals
      .command('list')
      .description('the terminals and the stations each may use')
      .option('--json', 'print JSON'),
    'educard terminals list --json',
  ).action(async (_options, command: Command) => {
    const raw = (await readRawConfig(configPath(command))) as RawTerminals;
    const list = (raw.terminals?.terminals ?? []).map(({ id, stations }) => ({ id, stations }));
    print(wantsJson(command), { terminals: list }, () =>
      list.length === 0
        ? 'no terminals yet: educard terminals add ID'
        : table(
            ['terminal', 'stations'],
            list.map((t) => [t.id, t.stations.join(', ')]),
          ),
    );
  });
  example(
    terminals
      .command('add')
      .description(
        'allow a terminal: prints its password once (only a hash is kept) and the address its page opens',
      )
      .argument('<id>', 'the terminal, e.g. desk-1')
      .option('--stations <ids>', "the stations it may use, separated by commas (default: this gateway's)")
      .option('--json', 'print JSON'),
    'sudo educard terminals add desk-1',
  ).action(async (id: string, options: { stations?: string }, command: Command) => {
    const path = configPath(command);
    const raw = (await readRawConfig(path)) as RawTerminals;
    const stations =
      options.stations
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean) ?? (raw.station?.id ? [raw.station.id] : []);
    if (stations.length === 0) throw usageError('which stations? give --stations');
    const list = raw.terminals?.terminals ?? [];
    if (list.some((t) => t.id === id)) {
      throw new CliError(
        `terminal ${id} exists`,
        1,
        `Remove it first (educard terminals remove ${id}) to give it a new password.`,
      );
    }
    const credential = terminalCredential(id, stations);
    raw.terminals = { ...raw.terminals, terminals: [...list, credential.entry] };
    await save(path, raw);
    const page = `http://<this gateway>:${raw.pages?.port ?? 8080}/desk.html#terminal=${id}&password=${credential.password}&station=${stations[0]}`;
    print(wantsJson(command), { id, stations, password: credential.password, page }, () =>
      [
        `terminal ${id} may use ${stations.join(', ')}`,
        `password (shown once): ${credential.password}`,
        `open its page once with: ${page}  (kiosk.html for a computer room)`,
        `then: sudo systemctl restart ${SERVICE}`,
      ].join('\n'),
    );
  });
  example(
    terminals
      .command('remove')
      .description('withdraw a terminal: it can no longer connect after a restart')
      .argument('<id>', 'the terminal'),
    'sudo educard terminals remove desk-1',
  ).action(async (id: string, _options, command: Command) => {
    const path = configPath(command);
    const raw = (await readRawConfig(path)) as RawTerminals;
    const list = raw.terminals?.terminals ?? [];
    if (!list.some((t) => t.id === id))
      throw new CliError(`no terminal ${id}`, 1, 'See them with: educard terminals list');
    raw.terminals = { ...raw.terminals, terminals: list.filter((t) => t.id !== id) };
    await save(path, raw);
    process.stdout.write(`terminal ${id} removed; sudo systemctl restart ${SERVICE}\n`);
  });
}
