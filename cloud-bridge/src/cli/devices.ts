import { example, print, table } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface DeviceView {
  id: string;
  school: string;
  createdAt: string;
  revokedAt?: string;
  lastSeenAt?: string;
  presence?: { online: boolean; firmware?: string; rosterVersion?: number; journalBacklog?: number };
}

const state = (device: DeviceView) =>
  device.revokedAt
    ? 'revoked'
    : device.presence?.online
      ? 'online'
      : device.lastSeenAt
        ? 'offline'
        : 'never connected';

async function list(options: BridgeOptions & { school?: string }): Promise<void> {
  const bridge = await connect(options);
  const query = options.school ? `?school=${encodeURIComponent(options.school)}` : '';
  const { data } = await bridge.request<{ devices: DeviceView[] }>('GET', `/v1/devices${query}`);
  print(options.json, data, () =>
    data.devices.length
      ? table(
          ['device', 'school', 'state', 'roster', 'backlog', 'enrolled', 'last seen'],
          data.devices.map((d) => [
            d.id,
            d.school,
            state(d),
            d.presence?.rosterVersion ?? '',
            d.presence?.journalBacklog ?? '',
            d.createdAt,
            d.lastSeenAt ?? '',
          ]),
        )
      : `no devices${options.school ? ` in ${options.school}` : ''} yet: enroll one with a token (educard-bridge tokens create)`,
  );
}

async function revoke(id: string, options: BridgeOptions): Promise<void> {
  const bridge = await connect(options);
  const { data } = await bridge.request<{ device: string; revoked: boolean; alreadyRevoked: boolean }>(
    'POST',
    `/v1/devices/${encodeURIComponent(id)}/revoke`,
    { json: {}, notFound: 'check the id with `educard-bridge devices list`' },
  );
  print(options.json, data, () =>
    data.alreadyRevoked
      ? `device ${id} was revoked already.`
      : `device ${id} revoked: its connection is cut and it can no longer connect. To bring it back, enroll it again with a new token.`,
  );
}

async function tag(id: string, options: BridgeOptions & { add?: string; remove?: string }): Promise<void> {
  const split = (text?: string) =>
    text
      ? text
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : [];
  const bridge = await connect(options);
  const { data } = await bridge.request<{ device: string; tags: string[] }>(
    'POST',
    `/v1/devices/${encodeURIComponent(id)}/tags`,
    {
      json: { add: split(options.add), remove: split(options.remove) },
      notFound: 'check the id with `educard-bridge devices list`',
    },
  );
  print(options.json, data, () => `${id}: ${data.tags.join(', ') || 'no tags'}`);
}

export function registerDevices(program: Command): void {
  const devices = example(
    program.command('devices').description('enrolled devices: list them, revoke one'),
    'educard-bridge devices list --school school-1',
    'educard-bridge devices revoke gate-07',
  );
  example(
    bridgeOptions(
      devices
        .command('list')
        .description('every enrolled device, its state and what it last reported')
        .option('--school <id>', 'only this school')
        .option('--json', 'print as JSON'),
    ).action((options: BridgeOptions & { school?: string }) => list(options)),
    'educard-bridge devices list --school school-1',
  );
  example(
    bridgeOptions(
      devices
        .command('revoke')
        .description('cut a device off: its connection is closed and its credentials refused from now on')
        .argument('<id>', 'the device id')
        .option('--json', 'print as JSON'),
    ).action((id: string, options: BridgeOptions) => revoke(id, options)),
    'educard-bridge devices revoke gate-07',
  );
  example(
    bridgeOptions(
      devices
        .command('tag')
        .description('tags a rollout can name (--tag): add or remove some, and show them')
        .argument('<id>', 'the device id')
        .option('--add <tags>', 'tags to add (comma-separated)')
        .option('--remove <tags>', 'tags to remove (comma-separated)')
        .option('--json', 'print as JSON'),
    ).action((id: string, options: BridgeOptions & { add?: string; remove?: string }) => tag(id, options)),
    'educard-bridge devices tag gate-07 --add pilot',
  );
}
