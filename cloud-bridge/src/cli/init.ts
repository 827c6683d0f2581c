import { randomBytes } from 'node:crypto';
import { lstat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { keyIdOf, rootFingerprint } from '@educard/terminal-sdk';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import { writeFilesDurable } from '@educard/terminal-sdk/files';
import type { Command } from 'commander';
import { parseBridgeConfig } from '../config/index.js';
import {
  newRosterKeys,
  RosterKeyring,
  rootKeyFileJson,
  rosterKeysJson,
  rosterKeysPath,
} from '../roster/index.js';
import { configPath, DEFAULT_CONFIG } from './client.js';
import { port } from './values.js';

interface InitOptions {
  config?: string;
  dataDir: string;
  rootKeyOut: string;
  anchorOut?: string;
  mqttHost: string;
  mqttPort: number;
  wsPort?: number;
  mqttPublicUrl?: string;
  httpHost: string;
  httpPort: number;
  force?: boolean;
  json?: boolean;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A parent that is not a directory: the write fails later, with what to do.
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw new CliError(`cannot check ${path}: ${(error as Error).message}`, 1);
  }
}

const isInside = (path: string, dir: string) => {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !rel.startsWith('/');
};

async function init(options: InitOptions): Promise<void> {
  const config = configPath(options.config);
  const dataDir = resolve(options.dataDir);
  const rootKeyOut = resolve(options.rootKeyOut);
  const anchorOut = resolve(options.anchorOut ?? join(dirname(config), 'anchor.json'));
  const keysFile = rosterKeysPath(dataDir);
  const outputs = { config, 'root key': rootKeyOut, anchor: anchorOut, 'roster keys': keysFile };
  const paths = Object.values(outputs);
  if (new Set(paths).size !== paths.length) {
    throw usageError(
      `the config, root key, anchor and roster key files must be four different files (${paths.join(', ')})`,
    );
  }
  const content = {
    dataDir,
    adminToken: randomBytes(32).toString('base64url'),
    mqtt: {
      embedded: true,
      host: options.mqttHost,
      port: options.mqttPort,
      ...(options.wsPort !== undefined ? { wsPort: options.wsPort } : {}),
      ...(options.mqttPublicUrl ? { publicUrl: options.mqttPublicUrl } : {}),
    },
    http: { host: options.httpHost, port: options.httpPort },
    // The scrape job's credential: it reads /metrics and nothing else (docs/metrics.md).
    metrics: { token: randomBytes(24).toString('base64url') },
    log: { level: 'info' },
  };
  try {
    parseBridgeConfig(content);
  } catch (error) {
    throw usageError((error as Error).message, 'check the flags (educard-bridge init --help)');
  }
  if (!options.force) {
    const present = [];
    for (const [what, path] of Object.entries({ ...outputs, database: join(dataDir, 'bridge.db') }))
      if (await exists(path)) present.push(`${what} ${path}`);
    if (present.length) {
      throw new CliError(
        `already there: ${present.join(', ')}; nothing was written`,
        1,
        'this bridge is set up already (educard-bridge keys show); --force replaces it all, and devices provisioned with the old anchor will no longer trust it',
      );
    }
  }
  const { root, keys } = newRosterKeys();
  const anchor = RosterKeyring.of(dataDir, keys).anchor;
  try {
    await writeFilesDurable([
      { path: keysFile, data: rosterKeysJson(keys), mode: 0o600, dirMode: 0o700 },
      { path: rootKeyOut, data: rootKeyFileJson(root), mode: 0o600 },
      { path: anchorOut, data: `${JSON.stringify(anchor, null, 2)}\n`, mode: 0o644 },
      { path: config, data: `${JSON.stringify(content, null, 2)}\n`, mode: 0o600 },
    ]);
  } catch (error) {
    throw new CliError(
      `could not write the files: ${(error as Error).message}; nothing was written`,
      1,
      'check that the directories are writable by this user (or run with sudo), then run init again',
    );
  }
  const fingerprint = rootFingerprint(anchor);
  if (isInside(rootKeyOut, dataDir) || isInside(rootKeyOut, dirname(config))) {
    process.stderr.write(
      `warning: the root key ${rootKeyOut} is beside the bridge's files: move it offline (a USB key in a safe) before the bridge goes live\n`,
    );
  }
  print(
    options.json,
    {
      config,
      dataDir,
      rosterKeys: keysFile,
      rootKey: rootKeyOut,
      anchor: anchorOut,
      fingerprint,
      rootKeyIds: anchor.keys.map((k) => k.keyId),
      rosterKeyIds: keys.roster.map((k) => keyIdOf(k.publicKey)),
      keySetVersion: 1,
    },
    () =>
      [
        'Bridge set up.',
        `  config       ${config} (holds the admin token and the metrics token: mode 0600)`,
        `  roster keys  ${keysFile} (the online roster key and key set 1; no root key)`,
        `  root key     ${rootKeyOut}: keep it offline; it is needed to rotate the roster key`,
        `  anchor       ${anchorOut}: give it to every device at provisioning`,
        `  fingerprint  ${fingerprint} (check a device shows the same)`,
        '',
        `Next: educard-bridge serve --config ${config}`,
        `      educard-bridge tokens create --school SCHOOL --count 10 --config ${config}`,
      ].join('\n'),
  );
}

export function registerInit(program: Command): void {
  example(
    program
      .command('init')
      .description(
        'set up a bridge: its config, roster key and key set 1, a root key to keep offline, the anchor devices pin',
      )
      .option('--config <file>', `the config to write (default: $EDUCARD_BRIDGE_CONFIG or ${DEFAULT_CONFIG})`)
      .option(
        '--data-dir <dir>',
        'where the bridge keeps its database and roster key',
        '/var/lib/educard-bridge',
      )
      .requiredOption('--root-key-out <file>', 'where to write the root key (mode 0600): keep it offline')
      .option(
        '--anchor-out <file>',
        'where to write the anchor devices pin (default: anchor.json beside the config)',
      )
      .option('--mqtt-host <host>', 'the embedded MQTT broker listens here', '127.0.0.1')
      .option('--mqtt-port <port>', 'its port (0: any free one)', port, 1883)
      .option('--ws-port <port>', 'a WebSocket listener of the broker, for pages', port)
      .option(
        '--mqtt-public-url <url>',
        'the broker URL devices are told at enrollment, when not the one above',
      )
      .option('--http-host <host>', 'the HTTP API listens here', '127.0.0.1')
      .option('--http-port <port>', 'its port (0: any free one)', port, 8080)
      .option('--force', 'replace an existing config, keys and anchor (devices must be provisioned again)')
      .option('--json', 'print what was written as JSON')
      .action((options: InitOptions) => init(options)),
    'sudo educard-bridge init --config /etc/educard/bridge.json --data-dir /var/lib/educard-bridge \\\n      --root-key-out /media/usb/educard-root-key.json --mqtt-host 0.0.0.0',
  );
}
