#!/usr/bin/env -S node --max-semi-space-size=4
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log/index.js';
import { Gateway } from './runtime/index.js';
import { notifySystemd } from './service/index.js';

const USAGE = `usage: educard-gateway --config FILE

Runs the gateway service: readers, roster, gate IO and journal, as the config file says.

example: educard-gateway --config /etc/educard/gateway.json`;

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
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(values.config);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nFix the file, then start the gateway again.\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger('gateway', { level: config.log.level });
  const gateway = await Gateway.start({ config, logger });
  const stopNotifying = notifySystemd(logger);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      logger.info({ signal }, 'stopping');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  // A stop that hangs (a peer that never answers) must not keep a service from exiting.
  setTimeout(() => {
    process.stderr.write('gateway did not stop within 15 s; exiting anyway\n');
    process.exit(1);
  }, 15_000).unref();
  stopNotifying();
  await gateway.stop();
  return 0;
}

// A service exits when it has stopped, whatever timers a hardware library may still hold.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`gateway failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
