import { example, print, table, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import type { RolloutDevice, RolloutView } from '../rollouts/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface CreateOptions extends BridgeOptions {
  release: string;
  schools?: string;
  devices?: string;
  tag?: string;
  phases: string;
  pace: string;
  abortFailures: string;
  abortPercent?: string;
  abortMin: string;
  afterHours?: boolean;
  allowOneWay?: boolean;
}

const list = (text: string | undefined) =>
  text
    ? text
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean)
    : [];

function whole(text: string, flag: string, min = 1): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min)
    throw usageError(`${flag} must be a whole number of at least ${min}`);
  return value;
}

const countsText = (counts: Record<string, number>) =>
  Object.entries(counts)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ') || 'none';

function summary(rollout: RolloutView): string {
  return [
    `rollout ${rollout.id}: ${rollout.version}, ${rollout.state}${rollout.reason ? ` (${rollout.reason})` : ''}`,
    `  by ${rollout.createdBy} at ${rollout.createdAt}; pace ${rollout.spec.pace}/min${rollout.spec.afterHours ? ', after hours only' : ''}`,
    ...rollout.phases.map(
      (p) => `  phase ${p.index + 1} (${p.spec}): ${p.devices} device(s): ${countsText(p.counts)}`,
    ),
  ].join('\n');
}

async function create(options: CreateOptions): Promise<void> {
  const body = {
    version: options.release,
    schools: list(options.schools),
    devices: list(options.devices),
    tags: list(options.tag),
    phases: list(options.phases),
    pace: whole(options.pace, '--pace'),
    abort: {
      failures: whole(options.abortFailures, '--abort-failures'),
      minDevices: whole(options.abortMin, '--abort-min'),
      ...(options.abortPercent !== undefined ? { percent: Number(options.abortPercent) } : {}),
    },
    afterHours: options.afterHours === true,
    allowOneWay: options.allowOneWay === true,
  };
  if (!body.schools.length && !body.devices.length && !body.tags.length)
    throw usageError('name whom to roll out to: --schools, --devices or --tag');
  const bridge = await connect(options);
  const { data } = await bridge.request<RolloutView>('POST', '/v1/rollouts', {
    json: body,
    notFound: 'add the release first: educard-bridge releases add FILE',
  });
  print(
    options.json,
    data,
    () => `${summary(data)}\nFollow it with: educard-bridge rollouts show ${data.id}`,
  );
}

async function show(id: string | undefined, options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  if (!id) {
    const { data } = await bridge.request<{ rollouts: RolloutView[] }>('GET', '/v1/rollouts');
    print(options.json, data, () =>
      data.rollouts.length
        ? table(
            ['rollout', 'version', 'state', 'devices', 'created', 'by'],
            data.rollouts.map((r) => [
              r.id,
              r.version,
              r.state,
              countsText(r.counts),
              r.createdAt,
              r.createdBy,
            ]),
          )
        : 'no rollouts yet: educard-bridge rollouts create --release V --schools …',
    );
    return;
  }
  const { data } = await bridge.request<RolloutView & { devices: RolloutDevice[] }>(
    'GET',
    `/v1/rollouts/${encodeURIComponent(id)}`,
    { notFound: 'see the rollouts with educard-bridge rollouts list' },
  );
  print(options.json, data, () =>
    [
      summary(data),
      '',
      table(
        ['device', 'school', 'phase', 'state', 'detail'],
        data.devices.map((d) => [
          d.device,
          d.school,
          d.phase + 1,
          d.state,
          d.detail ?? (d.total ? `${d.fetched ?? 0}/${d.total} bytes` : ''),
        ]),
      ),
    ].join('\n'),
  );
}

async function act(verb: 'pause' | 'resume' | 'abort', id: string, options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<RolloutView>(
    'POST',
    `/v1/rollouts/${encodeURIComponent(id)}/${verb}`,
    {
      json: {},
      notFound: 'see the rollouts with educard-bridge rollouts list',
    },
  );
  print(options.json, data, () => summary(data));
}

export function registerRollouts(program: Command): void {
  const rollouts = example(
    program
      .command('rollouts')
      .description('roll a release out to gateways: in phases, at a pace, outside the school bells'),
    'educard-bridge rollouts create --release 0.2.0 --schools school-1,school-2',
    'educard-bridge rollouts show r-20261204-1a2b3c',
  );
  example(
    bridgeOptions(
      rollouts
        .command('create')
        .description(
          'start rolling a release out: canary per school, then shares of the fleet, each phase after the one before',
        )
        .requiredOption('--release <version>', 'the release version (added with releases add)')
        .option('--schools <ids>', 'every device of these schools (comma-separated)')
        .option('--devices <ids>', 'these devices (comma-separated)')
        .option('--tag <tags>', 'the devices with these tags (comma-separated; educard-bridge devices tag)')
        .option('--phases <list>', 'phases: "canary" (one per school), "10%", or a count', 'canary,10%,100%')
        .option('--pace <n>', 'devices offered the release per minute, at most', '10')
        .option('--abort-failures <k>', 'abort after this many devices failed', '3')
        .option('--abort-percent <p>', 'or when this percentage of the finished devices failed…')
        .option('--abort-min <n>', '…once at least this many finished', '10')
        .option('--after-hours', 'switch only outside school hours (evenings, nights, weekends, holidays)')
        .option(
          '--allow-one-way',
          'allow a release the devices cannot come back from (a one-way data migration)',
        )
        .option('--json', 'print as JSON'),
    ).action((options: CreateOptions) => create(options)),
    'educard-bridge rollouts create --release 0.2.0 --schools school-1 --phases canary,50%,100% --abort-failures 1',
  );
  example(
    bridgeOptions(
      rollouts
        .command('list')
        .description('every rollout and its devices by state')
        .option('--json', 'print as JSON'),
    ).action((options: BridgeOptions) => show(undefined, options)),
    'educard-bridge rollouts list',
  );
  example(
    bridgeOptions(
      rollouts
        .command('show')
        .description('one rollout: its phases and each device')
        .argument('<id>', 'the rollout id')
        .option('--json', 'print as JSON'),
    ).action((id: string, options: BridgeOptions) => show(id, options)),
    'educard-bridge rollouts show r-20261204-1a2b3c',
  );
  for (const [verb, what] of [
    ['pause', 'offer the release to no more devices until resumed (those under way go on)'],
    ['resume', 'go on with a paused rollout'],
    ['abort', 'stop for good: devices that have not switched drop the release; the audit log records who'],
  ] as const)
    example(
      bridgeOptions(
        rollouts
          .command(verb)
          .description(what)
          .argument('<id>', 'the rollout id')
          .option('--json', 'print as JSON'),
      ).action((id: string, options: BridgeOptions) => act(verb, id, options)),
      `educard-bridge rollouts ${verb} r-20261204-1a2b3c`,
    );
}
