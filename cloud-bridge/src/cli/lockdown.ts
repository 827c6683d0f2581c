import { CliError, example, print, table } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import type { LockdownView, SchoolLockdown } from '../lockdown/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface SchoolOptions extends BridgeOptions {
  school: string;
  reason?: string;
}

const NOT_FOUND =
  'check the school id: it is the school column of the roster CSV, and its gates must be enrolled here';

/** The lockdown, each gate's part and who it keeps outside, as `status` shows them. */
function describe({ lockdown, gates, outside }: LockdownView): string {
  const head = lockdown.active
    ? `school ${lockdown.school} is in LOCKDOWN (order ${lockdown.version}, by ${lockdown.setBy} at ${lockdown.setAt}${lockdown.reason ? `: ${lockdown.reason}` : ''}): its gates refuse entries`
    : lockdown.version === 0
      ? `school ${lockdown.school} has never been in lockdown`
      : `school ${lockdown.school} is not in lockdown (order ${lockdown.version}, lifted by ${lockdown.setBy} at ${lockdown.setAt})`;
  const pending = gates.filter((gate) => !gate.current).length;
  const switched = gates.filter((gate) => gate.switchSince);
  return [
    head,
    ...switched.map(
      (gate) =>
        `gate ${gate.device} is in LOCKDOWN by its own switch since ${gate.switchSince}: it refuses entries until the switch is turned off there`,
    ),
    table(
      ['gate', 'online', 'applied', 'in lockdown', 'at'],
      gates.map((gate) => [
        gate.device,
        gate.online ? 'yes' : 'no',
        gate.current ? `order ${gate.version}` : `NOT YET (order ${gate.version})`,
        gate.active || gate.switchSince ? `yes${gate.switchSince ? ' (switch)' : ''}` : 'no',
        gate.at ?? '',
      ]),
    ),
    ...(pending
      ? [
          `${pending} gate(s) have not yet applied order ${lockdown.version}: an online gate does within seconds, an offline one when it connects again`,
        ]
      : []),
    ...(outside.length
      ? [
          `${outside.length} refused entry since the ${lockdown.active ? 'order' : 'switch'} and not in since (outside the gates):`,
          table(
            ['name', 'class', 'role', 'refused at', 'gate'],
            outside.map((person) => [
              person.name,
              person.class ?? '',
              person.role ?? '',
              person.at,
              person.device,
            ]),
          ),
        ]
      : lockdown.active || switched.length
        ? [`nobody has been refused entry since the ${lockdown.active ? 'order' : 'switch'}`]
        : []),
  ].join('\n');
}

async function status(options: SchoolOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<LockdownView>(
    'GET',
    `/v1/schools/${encodeURIComponent(options.school)}/lockdown`,
  );
  print(options.json, data, () => describe(data));
}

async function set(active: boolean, options: SchoolOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<{ lockdown: SchoolLockdown; sent: number; unsent: string[] }>(
    'POST',
    `/v1/schools/${encodeURIComponent(options.school)}/lockdown`,
    { json: { active, ...(options.reason ? { reason: options.reason } : {}) }, notFound: NOT_FOUND },
  );
  print(options.json, data, () =>
    [
      `school ${options.school}: lockdown ${active ? 'ORDERED' : 'lifted'} (order ${data.lockdown.version}), sent to ${data.sent} gate(s).`,
      ...(data.unsent.length
        ? [`not sent to ${data.unsent.join(', ')}: each gets it when it connects again.`]
        : []),
      `educard-bridge lockdown status --school ${options.school} shows each gate taking it.`,
    ].join('\n'),
  );
  if (data.unsent.length) throw new CliError('the order did not reach every gate yet', 1);
}

export function registerLockdown(program: Command): void {
  const lockdown = example(
    program
      .command('lockdown')
      .description(
        "a school's lockdown: every gate of the school refuses entries (exits go on) until it is lifted",
      ),
    'educard-bridge lockdown start --school school-1 --reason "intruder at the north gate"',
    'educard-bridge lockdown status --school school-1',
    'educard-bridge lockdown lift --school school-1',
  );
  const common = (command: Command) =>
    bridgeOptions(command.requiredOption('--school <id>', 'the school').option('--json', 'print as JSON'));
  example(
    common(
      lockdown
        .command('start')
        .description("put the school's gates in lockdown, at once (an offline gate when it connects)")
        .option('--reason <text>', 'said to the gates and in the alarm (at most 200 characters)'),
    ).action((options: SchoolOptions) => set(true, options)),
    'educard-bridge lockdown start --school school-1 --reason drill',
  );
  example(
    common(lockdown.command('lift').description("lift the school's lockdown")).action(
      (options: SchoolOptions) => set(false, options),
    ),
    'educard-bridge lockdown lift --school school-1',
  );
  example(
    common(
      lockdown.command('status').description('the lockdown and whether each gate has applied it'),
    ).action((options: SchoolOptions) => status(options)),
    'educard-bridge lockdown status --school school-1 --json',
  );
}
