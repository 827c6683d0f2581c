import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { ConfigError, type GatewayConfig } from '../config/index.js';
import {
  commit,
  GUARD_MOMENTS,
  type GuardMoment,
  ReleaseRoot,
  runGuard,
  technicianRollback,
  type UpdateState,
} from '../updates/index.js';
import { askGateway, configPath, gatewayRunning, readConfig, SERVICE, wantsJson } from './context.js';

async function rootOf(config: GatewayConfig): Promise<ReleaseRoot> {
  const root = new ReleaseRoot(config.update.root);
  if (!(await root.installed()))
    throw new CliError(
      `${config.update.root} holds no release (no "current" link): updates are off on this gateway`,
      1,
      'Install the gateway with deploy/install-gateway.sh, which lays out the release root (docs/updates.md).',
    );
  return root;
}

async function status(command: Command): Promise<void> {
  const config = await readConfig(configPath(command));
  const root = await rootOf(config);
  const [current, committed, previous] = await Promise.all([
    root.link('current'),
    root.link('committed'),
    root.link('previous'),
  ]);
  const state = await root.readState();
  const live = (await gatewayRunning(config))
    ? await askGateway<{ running: string; progress?: { state: string; detail?: string } } | null>(
        config,
        'update.status',
      )
    : null;
  const data = {
    root: root.dir,
    current,
    committed,
    previous: previous ?? null,
    onTrial: current !== committed,
    running: live?.running ?? null,
    state: { ...state, offer: undefined, manifest: undefined },
    progress: live?.progress ?? null,
  };
  print(wantsJson(command), data, () =>
    [
      `release root  ${root.dir}`,
      `current       ${current}${current !== committed ? '  (ON TRIAL: its commit check has not passed)' : ''}`,
      `committed     ${committed}`,
      `previous      ${previous ?? '–'}`,
      `running       ${live?.running ?? 'the service is not running'}`,
      `update        ${describe(state)}`,
      ...(live?.progress
        ? [`progress      ${live.progress.state}${live.progress.detail ? `: ${live.progress.detail}` : ''}`]
        : []),
    ].join('\n'),
  );
}

function describe(state: UpdateState): string {
  const what = state.version ? `${state.version}${state.rollout ? ` (rollout ${state.rollout})` : ''}` : '';
  switch (state.phase) {
    case 'idle':
      return 'none under way';
    case 'staging':
      return `downloading ${what}`;
    case 'staged':
      return `${what} downloaded, waiting for the update lock`;
    case 'trial':
      return `${what} on trial, start ${state.starts}, commit check due by ${state.deadline}`;
    case 'committed':
      return `${what} committed`;
    case 'rolled-back':
      return `${what} rolled back at ${state.stage}: ${state.reason}`;
    case 'refused':
      return `${what} refused: ${state.reason}`;
  }
}

async function rollback(command: Command): Promise<void> {
  const config = await readConfig(configPath(command));
  const root = await rootOf(config);
  const running = await gatewayRunning(config);
  const state = running
    ? await askGateway<UpdateState>(config, 'update.rollback')
    : await technicianRollback(root, await root.readState());
  const current = await root.link('current');
  print(wantsJson(command), { current, rolledBack: state.version, running }, () =>
    running
      ? `back on ${current}: the gateway restarts into it now (${state.version} is not taken again from its rollout).`
      : `back on ${current}. Start the gateway: sudo systemctl start ${SERVICE}`,
  );
}

async function commitCommand(command: Command): Promise<void> {
  const config = await readConfig(configPath(command));
  const root = await rootOf(config);
  const current = await root.link('current');
  if (current === (await root.link('committed')))
    throw new CliError(`no release is on trial: ${current} is committed`, 1);
  if (await gatewayRunning(config)) await askGateway(config, 'update.commit');
  else await commit(root, await root.readState());
  print(wantsJson(command), { committed: current }, () => `${current} committed without its commit check.`);
}

/** systemd runs deploy's guard entry (updates/guard-main.ts); this is the same guard for a technician's shell. */
async function guard(when: string, command: Command): Promise<void> {
  if (!GUARD_MOMENTS.includes(when as GuardMoment))
    throw new CliError(`guard takes "start", "stop" or "failed", not "${when}"`, 2);
  try {
    await runGuard(when as GuardMoment, configPath(command));
  } catch (error) {
    if (error instanceof ConfigError) throw usageError(error.message);
    throw error;
  }
}

export function registerUpdate(program: Command): void {
  const update = example(
    program
      .command('update')
      .description('software updates: what runs, what is on trial, go back or keep it'),
    'educard update status',
    'sudo educard update rollback',
  );
  example(
    update
      .command('status')
      .description('the releases in place, the update under way and its progress')
      .option('--json', 'print as JSON'),
    'educard update status --json',
  ).action((_options, command: Command) => status(command));
  example(
    update
      .command('rollback')
      .description('go back: a release on trial to the committed one, or the committed one to the previous')
      .option('--json', 'print as JSON'),
    'sudo educard update rollback',
  ).action((_options, command: Command) => rollback(command));
  example(
    update
      .command('commit')
      .description('keep the release on trial without waiting for its commit check')
      .option('--json', 'print as JSON'),
    'sudo educard update commit',
  ).action((_options, command: Command) => commitCommand(command));
  example(
    update
      .command('guard')
      .description('for systemd only: count starts of a release on trial and go back when it fails')
      .argument('<when>', '"start" (ExecStartPre), "stop" (ExecStopPost) or "failed" (the OnFailure= unit)'),
    'educard update guard start',
  ).action((when: string, _options, command: Command) => guard(when, command));
}
