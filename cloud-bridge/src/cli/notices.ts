import { example, print, table } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import type { NoticeWebhookStatus } from '../notices/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface StatusOptions extends BridgeOptions {
  school?: string;
}

/** Each webhook, what it waits for and what it gave up, as `status` shows them. */
function describe(webhooks: NoticeWebhookStatus[]): string {
  if (webhooks.length === 0)
    return 'no parent notice webhook here (notices.webhooks in the bridge config: docs/notices.md)';
  return webhooks
    .map((hook) =>
      [
        `${hook.url} (${hook.school ? `school ${hook.school}` : 'every school'}; ${hook.sends.join(', ')}): ${hook.pending} pending, ${hook.delivered} delivered, ${hook.failed} given up; last success ${hook.lastSuccessAt ?? 'never'}`,
        ...(hook.lastError ? [`  last error: ${hook.lastError} at ${hook.lastErrorAt}`] : []),
        ...(hook.absenceHeld ?? []).map(
          (held) =>
            `  absence notices of ${held.school} on ${held.date} HELD: ${
              held.reason === 'gates-silent'
                ? 'no gate of the school has recorded anyone today'
                : `gate(s) ${held.gates.join(', ')} offline or just back`
            }`,
        ),
        ...(hook.failedDeliveries.length
          ? [
              table(
                ['given up', 'delivery', 'notices', 'attempts', 'last error'],
                hook.failedDeliveries.map((d) => [d.at, d.id, d.notices, d.attempts, d.lastError ?? '']),
              ),
              'once the receiver is mended: educard-bridge notices retry DELIVERY',
            ]
          : []),
      ].join('\n'),
    )
    .join('\n\n');
}

async function status(options: StatusOptions): Promise<void> {
  const bridge = await connect(options);
  const query = options.school ? `?school=${encodeURIComponent(options.school)}` : '';
  const { data } = await bridge.request<{ webhooks: NoticeWebhookStatus[] }>(
    'GET',
    `/v1/notices/status${query}`,
  );
  print(options.json, data, () => describe(data.webhooks));
}

async function retry(id: string, options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request('POST', `/v1/notices/deliveries/${encodeURIComponent(id)}/retry`, {
    json: {},
    notFound: 'educard-bridge notices status lists the deliveries given up, each by its id',
  });
  print(
    options.json,
    data,
    () => `delivery ${id} goes out again now, with its id (a receiver that has it dedupes it)`,
  );
}

export function registerNotices(program: Command): void {
  const notices = example(
    program
      .command('notices')
      .description("parent notices: each webhook's deliveries, and a given-up delivery sent again"),
    'educard-bridge notices status',
    'educard-bridge notices retry 5f0c6a8e-3f7e-4f43-9d39-0f0c2b3f6d1a',
  );
  example(
    bridgeOptions(
      notices
        .command('status')
        .description(
          'each webhook: what it is told of, pending, delivered, given up, the last error, absence notices held',
        )
        .option('--school <id>', "one school's webhooks")
        .option('--json', 'print as JSON'),
    ).action((options: StatusOptions) => status(options)),
    'educard-bridge notices status --school school-1',
  );
  example(
    bridgeOptions(
      notices
        .command('retry')
        .description('send a given-up delivery again, with its id and body (audited)')
        .argument('<delivery>', 'the delivery id, as status shows it')
        .option('--json', 'print as JSON'),
    ).action((id: string, options: BridgeOptions) => retry(id, options)),
    'educard-bridge notices retry 5f0c6a8e-3f7e-4f43-9d39-0f0c2b3f6d1a',
  );
}
