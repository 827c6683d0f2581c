import { CliError, example } from '@educard/terminal-sdk/cli';
import { notifySystemd } from '@educard/terminal-sdk/systemd';
import type { Command } from 'commander';
import { configPath, DEFAULT_CONFIG, readBridgeConfig } from './client.js';

/** How long a stop may take before the process exits anyway (a peer that never answers). */
const STOP_GUARD_MS = 15_000;

async function serve(options: { config?: string }): Promise<void> {
  const path = configPath(options.config);
  const config = await readBridgeConfig(path);
  // Loaded here only: the other commands start without the broker, the database and the HTTP server.
  const { Bridge } = await import('../runtime/index.js');
  let bridge: Awaited<ReturnType<typeof Bridge.start>>;
  try {
    bridge = await Bridge.start(config);
  } catch (error) {
    throw new CliError(
      `the bridge did not start: ${(error as Error).message}`,
      1,
      `check ${path} (ports free, dataDir writable) and run again`,
    );
  }
  // Under systemd (Type=notify): ready once the store, broker, ingest and HTTP API are up.
  const stopNotifying = notifySystemd(bridge.logger, 'bridge running');
  await new Promise<void>((done) => {
    process.once('SIGTERM', () => done());
    process.once('SIGINT', () => done());
  });
  setTimeout(() => {
    process.stderr.write(`bridge did not stop within ${STOP_GUARD_MS / 1000} s; exiting anyway\n`);
    process.exit(1);
  }, STOP_GUARD_MS).unref();
  stopNotifying();
  await bridge.stop();
}

export function registerServe(program: Command): void {
  example(
    program
      .command('serve')
      .description('run the bridge: store, MQTT broker (embedded aedes or external), ingest and HTTP API')
      .option('--config <file>', `the bridge config (default: $EDUCARD_BRIDGE_CONFIG or ${DEFAULT_CONFIG})`)
      .action((options: { config?: string }) => serve(options)),
    'educard-bridge serve --config /etc/educard/bridge.json',
  );
}
