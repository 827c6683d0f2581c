#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseBridgeConfig } from './config/index.js';
import { Bridge } from './runtime/index.js';

const USAGE = `usage: educard-bridge-serve --config FILE

Runs the cloud bridge: store, MQTT broker (embedded aedes or external), ingest and HTTP API.

example: educard-bridge-serve --config /etc/educard/bridge.json`;

async function main(): Promise<number> {
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!values.config) {
    process.stderr.write(`--config is required\n${USAGE}\n`);
    return 2;
  }
  let config: ReturnType<typeof parseBridgeConfig>;
  try {
    config = parseBridgeConfig(JSON.parse(await readFile(values.config, 'utf8')));
    config.dataDir = resolve(dirname(resolve(values.config)), config.dataDir);
  } catch (error) {
    process.stderr.write(`${values.config}: ${(error as Error).message}\n`);
    return 2;
  }
  const bridge = await Bridge.start(config);
  await new Promise<void>((done) => {
    process.once('SIGTERM', () => done());
    process.once('SIGINT', () => done());
  });
  // A stop that hangs (a peer that never answers) must not keep a service from exiting.
  setTimeout(() => {
    process.stderr.write('bridge did not stop within 15 s; exiting anyway\n');
    process.exit(1);
  }, 15_000).unref();
  await bridge.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bridge failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
