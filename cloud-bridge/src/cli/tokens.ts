import { example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';
import { identifier, positiveNumber, wholeNumber } from './values.js';

interface CreateOptions extends BridgeOptions {
  school: string;
  count: number;
  ttlHours: number;
  device?: string;
}

async function create(options: CreateOptions): Promise<void> {
  if (options.device !== undefined && options.count !== 1)
    throw usageError('--device makes one token for that device: leave out --count');
  const bridge = await connect(options);
  const { data } = await bridge.request<{
    school: string;
    expiresAt: string;
    tokens: string[];
    device?: string;
  }>('POST', '/v1/tokens', {
    json: {
      school: options.school,
      count: options.count,
      ttlHours: options.ttlHours,
      ...(options.device !== undefined ? { device: options.device } : {}),
    },
  });
  if (!options.json) {
    process.stderr.write(
      data.device
        ? `an enrollment token for device ${data.device} of ${data.school}, good once until ${data.expiresAt}:\n`
        : `${data.tokens.length} enrollment token(s) for ${data.school}, each good for one device until ${data.expiresAt}:\n`,
    );
  }
  print(options.json, data, () => data.tokens.join('\n'));
}

export function registerTokens(program: Command): void {
  const tokens = example(
    program.command('tokens').description('one-time enrollment tokens for devices'),
    'educard-bridge tokens create --school school-1 --count 10',
  );
  example(
    bridgeOptions(
      tokens
        .command('create')
        .description('make tokens a technician enrolls devices with (each works once, until it expires)')
        .requiredOption('--school <id>', 'the school the devices belong to')
        .option('--count <n>', 'how many (1-500)', wholeNumber(1, 500), 1)
        .option('--ttl-hours <hours>', 'how long they stay valid (at most 2160)', positiveNumber(24 * 90), 72)
        .option(
          '--device <id>',
          'bind the token to this device id: it enrolls that device only (one token)',
          identifier('--device'),
        )
        .option('--json', 'print as JSON'),
    ).action((options: CreateOptions) => create(options)),
    'educard-bridge tokens create --school school-1 --device gate-07 --ttl-hours 4',
  );
}
