import { CliError, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { ConfigError, controlSocketPath, type GatewayConfig, loadConfig } from '../config/index.js';
import { callGateway, GatewayUnreachable } from '../control/index.js';

export { DEFAULT_CONFIG } from '../config/index.js';
export const SERVICE = 'educard-gateway';

/** The options every command takes; `--json` only where a command prints data. */
export interface GlobalOptions {
  config: string;
  json?: boolean;
}

export function configPath(command: Command): string {
  return (command.optsWithGlobals() as GlobalOptions).config;
}

export function wantsJson(command: Command): boolean {
  return Boolean((command.optsWithGlobals() as GlobalOptions).json);
}

/** Loads the configuration or fails with exit code 2 and what to fix. */
export async function readConfig(path: string): Promise<GatewayConfig> {
  try {
    return await loadConfig(path);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw usageError(error.message, `Fix the file, or make one with: educard init --config ${path}`);
    }
    throw error;
  }
}

/** Calls the running gateway, or fails with what to do when it is not running. */
export async function askGateway<T>(
  config: GatewayConfig,
  method: string,
  params: Record<string, unknown> = {},
): Promise<T> {
  try {
    return await callGateway<T>(controlSocketPath(config), method, params);
  } catch (error) {
    if (error instanceof GatewayUnreachable) throw notRunning(error);
    throw new CliError((error as Error).message);
  }
}

export function notRunning(error: GatewayUnreachable): CliError {
  return new CliError(
    error.message,
    1,
    error.code === 'EACCES'
      ? `Run as root, or as a member of the service's group (sudo usermod -aG educard $USER, then log in again).`
      : `Start it with: sudo systemctl start ${SERVICE}; see why it stopped with: educard logs`,
  );
}

/** Whether the service answers on its control socket: commands that change its files need it stopped. */
export async function gatewayRunning(config: GatewayConfig): Promise<boolean> {
  try {
    await callGateway(controlSocketPath(config), 'status', {}, 2000);
    return true;
  } catch {
    return false;
  }
}

export async function requireStopped(config: GatewayConfig, what: string): Promise<void> {
  if (await gatewayRunning(config)) {
    throw new CliError(
      `the gateway is running: ${what} needs it stopped`,
      1,
      `Stop it with: sudo systemctl stop ${SERVICE}`,
    );
  }
}
