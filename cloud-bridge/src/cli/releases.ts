import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { example, print, table, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import type { ReleaseView } from '../releases/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';
import { uploadBody } from './import.js';

async function add(file: string, options: BridgeOptions): Promise<void> {
  const path = resolve(file);
  const size = await stat(path).then(
    (s) => (s.isFile() ? s.size : -1),
    () => -1,
  );
  if (size <= 0)
    throw usageError(`no release archive at ${path}`, 'give the .tar that npm run release wrote');
  const bridge = await connect(options);
  const { data } = await bridge.request<ReleaseView>('POST', '/v1/releases', {
    body: uploadBody(
      path,
      size,
      options.json === true,
      'the bridge is checking its signature and every file…',
    ),
    contentType: 'application/x-tar',
    timeoutMs: 600_000,
  });
  print(options.json, data, () =>
    [
      `release ${data.version} for ${data.arch} added: ${data.files} files, ${(data.bytes / 1e6).toFixed(1)} MB, signed by the release keys, valid until ${data.expiresAt}.`,
      `Roll it out with: educard-bridge rollouts create --release ${data.version} --schools SCHOOL,…`,
    ].join('\n'),
  );
}

async function list(options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<{ releases: ReleaseView[] }>('GET', '/v1/releases');
  print(options.json, data, () =>
    data.releases.length
      ? table(
          ['version', 'arch', 'files', 'MB', 'expires', 'added', 'by'],
          data.releases.map((r) => [
            r.version,
            r.arch,
            r.files,
            (r.bytes / 1e6).toFixed(1),
            r.expiresAt,
            r.addedAt,
            r.addedBy,
          ]),
        )
      : 'no releases yet: add one with educard-bridge releases add FILE',
  );
}

async function remove(version: string, options: BridgeOptions & { arch?: string }): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<{ removed: ReleaseView[] }>(
    'POST',
    `/v1/releases/${encodeURIComponent(version)}/remove`,
    {
      json: options.arch ? { arch: options.arch } : {},
      notFound: 'see the releases with educard-bridge releases list',
    },
  );
  print(options.json, data, () => `removed ${version} for ${data.removed.map((r) => r.arch).join(', ')}.`);
}

export function registerReleases(program: Command): void {
  const releases = example(
    program.command('releases').description('gateway releases the bridge distributes: add, list, remove'),
    'educard-bridge releases add educard-gateway-0.2.0-arm64.tar',
    'educard-bridge releases list',
  );
  example(
    bridgeOptions(
      releases
        .command('add')
        .description('take a release archive made (and signed offline) by npm run release')
        .argument('<file>', 'the release archive (.tar)')
        .option('--json', 'print as JSON'),
    ).action((file: string, options: BridgeOptions) => add(file, options)),
    'educard-bridge releases add /media/usb/educard-gateway-0.2.0-arm64.tar',
  );
  example(
    bridgeOptions(
      releases
        .command('list')
        .description('the releases held, newest last')
        .option('--json', 'print as JSON'),
    ).action((options: BridgeOptions) => list(options)),
    'educard-bridge releases list --json',
  );
  example(
    bridgeOptions(
      releases
        .command('remove')
        .description('remove a release no running rollout distributes, and its files no other release has')
        .argument('<version>', 'the release version')
        .option('--arch <arch>', 'only this architecture')
        .option('--json', 'print as JSON'),
    ).action((version: string, options: BridgeOptions & { arch?: string }) => remove(version, options)),
    'educard-bridge releases remove 0.1.9',
  );
}
