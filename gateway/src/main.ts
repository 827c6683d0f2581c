#!/usr/bin/env -S node --max-semi-space-size=2
import { createProgram, example, runCli, usageError } from '@educard/terminal-sdk/cli';
import { notifySystemd } from '@educard/terminal-sdk/systemd';
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './log/index.js';
import { Gateway, RESTART_EXIT_CODE } from './runtime/index.js';

const program = example(
  createProgram(
    'educard-gateway',
    'Runs the gateway service: readers, roster, gate IO and journal, as the config file says.',
  )
    .usage('--config FILE')
    .requiredOption('-c, --config <file>', 'the gateway configuration')
    .action(({ config }: { config: string }) => serve(config)),
  'educard-gateway --config /etc/educard/gateway.json',
);

async function serve(path: string): Promise<void> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig(path);
  } catch (error) {
    if (error instanceof ConfigError)
      throw usageError(error.message, 'Fix the file, then start the gateway again.');
    throw error;
  }
  const logger = createLogger('gateway', { level: config.log.level });
  // Listened for before the start: the gateway decides taps before its uplink is up, so a stop may
  // come while it is still starting, and must then stop it cleanly rather than kill it mid-start.
  const stopAsked = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  const gateway = await Gateway.start({ config, logger });
  const stopNotifying = notifySystemd(logger, 'gateway running');
  const restart = await Promise.race([
    stopAsked.then((signal) => {
      logger.info({ signal }, 'stopping');
      return false;
    }),
    gateway.restartRequested.then(() => true),
  ]);
  // A stop that hangs (a peer that never answers) must not keep a service from exiting.
  setTimeout(() => {
    process.stderr.write('gateway did not stop within 15 s; exiting anyway\n');
    process.exit(1);
  }, 15_000).unref();
  stopNotifying();
  await gateway.stop();
  // systemd (Restart=on-failure) starts the service again, from the release `current` names now.
  if (restart) process.exitCode = RESTART_EXIT_CODE;
}

// A service exits when it has stopped, whatever timers a hardware library may still hold.
process.exit(await runCli(program));
