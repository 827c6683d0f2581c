import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CliError, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import { type BridgeConfig, parseBridgeConfig } from '../config/index.js';

export const DEFAULT_CONFIG = '/etc/educard/bridge.json';

/** The bridge config file: `--config`, else `$EDUCARD_BRIDGE_CONFIG`, else /etc/educard/bridge.json. */
export const configPath = (given?: string) =>
  resolve(given ?? process.env.EDUCARD_BRIDGE_CONFIG ?? DEFAULT_CONFIG);

export interface BridgeOptions {
  config?: string;
  url?: string;
  adminToken?: string;
  json?: boolean;
}

/** Adds the options of a command that talks to a running bridge. */
export function bridgeOptions<T extends Command>(command: T): T {
  command
    .option('--config <file>', `the bridge config (default: $EDUCARD_BRIDGE_CONFIG or ${DEFAULT_CONFIG})`)
    .option('--url <url>', "the bridge's HTTP API, instead of the one the config names")
    .option(
      '--admin-token <token>',
      "the admin token, instead of the config's (or set $EDUCARD_ADMIN_TOKEN)",
    );
  return command;
}

/** Reads and checks a bridge config; `dataDir` comes back absolute (relative to the config file). */
export async function readBridgeConfig(path: string): Promise<BridgeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw usageError(
        `no bridge config at ${path}`,
        'pass --config FILE (or set EDUCARD_BRIDGE_CONFIG), or make one with `educard-bridge init`',
      );
    if (code === 'EACCES')
      throw new CliError(
        `cannot read ${path}: permission denied`,
        1,
        'run as the user the bridge runs as (it holds the admin token), or pass --url and --admin-token',
      );
    throw usageError(`cannot read ${path}: ${(error as Error).message}`);
  }
  let config: BridgeConfig;
  try {
    config = parseBridgeConfig(JSON.parse(text));
  } catch (error) {
    throw usageError(
      `${path}: ${(error as Error).message}`,
      'fix the file (docs/api.md shows one), then run again',
    );
  }
  config.dataDir = resolve(dirname(path), config.dataDir);
  return config;
}

/** The address a client reaches a listener on: a wildcard host means this machine. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

interface RequestOptions {
  /** A JSON body, sent as such. */
  json?: unknown;
  /** Any other body (a stream, with `contentType`). */
  body?: ReadableStream<Uint8Array>;
  contentType?: string;
  /** Statuses the caller handles itself, beside 2xx. */
  allow?: number[];
  /** What to say after a 404 (an unknown card or device). */
  notFound?: string;
  timeoutMs?: number;
}

export interface BridgeAnswer<T> {
  status: number;
  data: T;
}

/** The admin HTTP API of a running bridge, with each failure turned into what to do next. */
export class BridgeClient {
  constructor(
    readonly url: string,
    private readonly token: string,
    private readonly source: string,
  ) {}

  async request<T = Record<string, unknown>>(
    method: 'GET' | 'POST' | 'PATCH',
    path: string,
    options: RequestOptions = {},
  ): Promise<BridgeAnswer<T>> {
    const target = new URL(path, this.url);
    let response: Response;
    try {
      response = await fetch(target, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(options.json !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(options.contentType ? { 'content-type': options.contentType } : {}),
        },
        ...(options.json !== undefined ? { body: JSON.stringify(options.json) } : {}),
        ...(options.body !== undefined ? { body: options.body, duplex: 'half' } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      } as RequestInit);
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason =
        (error as Error).name === 'TimeoutError'
          ? 'no answer in time'
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new CliError(
        `the bridge at ${this.url} is not reachable (${reason})`,
        1,
        `check that it runs (systemctl status educard-bridge, or educard-bridge serve) and that ${this.source} points at it`,
      );
    }
    const text = await response.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : {};
    } catch {
      throw new CliError(
        `${target} answered ${response.status} with something that is not JSON`,
        1,
        `is ${this.url} an educard bridge? check ${this.source}`,
      );
    }
    const message = (data as { message?: string }).message ?? `HTTP ${response.status}`;
    if (response.ok || options.allow?.includes(response.status))
      return { status: response.status, data: data as T };
    if (response.status === 401)
      throw new CliError(
        'the bridge refused the admin token',
        1,
        `use the adminToken of the bridge's config (--config FILE), or pass --admin-token / set EDUCARD_ADMIN_TOKEN`,
      );
    if (response.status === 404) throw new CliError(message, 1, options.notFound);
    if (response.status === 400) throw usageError(message, 'check the values given (--help shows each)');
    if (response.status >= 500)
      throw new CliError(
        `the bridge failed: ${message}`,
        1,
        "see the bridge's log (journalctl -u educard-bridge) and run again",
      );
    throw new CliError(message, 1);
  }
}

/**
 * Finds the bridge a command talks to: `--url` or the config's HTTP listener, and `--admin-token`,
 * `$EDUCARD_ADMIN_TOKEN` or the config's token, in that order.
 */
export async function connect(options: BridgeOptions): Promise<BridgeClient> {
  const token = options.adminToken ?? process.env.EDUCARD_ADMIN_TOKEN;
  if (options.url) {
    try {
      const url = new URL(options.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw usageError(`--url ${options.url} is not an http(s) URL`, 'e.g. --url http://127.0.0.1:8080');
    }
    if (token) return new BridgeClient(options.url, token, '--url');
    const path = configPath(options.config);
    const config = await readBridgeConfig(path).catch((error: unknown) => {
      throw usageError(
        `no admin token: ${(error as Error).message}`,
        'pass --admin-token, set EDUCARD_ADMIN_TOKEN, or --config the bridge config that holds it',
      );
    });
    return new BridgeClient(options.url, config.adminToken, '--url');
  }
  const path = configPath(options.config);
  const config = await readBridgeConfig(path);
  const url = `http://${connectHost(config.http.host)}:${config.http.port}`;
  return new BridgeClient(url, token ?? config.adminToken, `the http section of ${path} (or --url)`);
}
