import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort } from '@educard/scripts/support';
import { REPO_ROOT, startNode } from './processes.js';

export const EDUCARD = 'gateway/dist/cli/main.js';
export const BRIDGE_CLI = 'cloud-bridge/dist/cli/main.js';

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (a command run with --json). */
  json<T = Record<string, unknown>>(): T;
}

/** Variables a developer's shell may hold that would change which device or bridge a command works on. */
const OWN_VARIABLES = ['EDUCARD_CONFIG', 'EDUCARD_ADMIN_TOKEN', 'EDUCARD_BRIDGE_CONFIG'];

/** Runs a built command-line entry point to its end, as a technician would, with stdin not a terminal. */
export function runCommand(
  script: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
  for (const name of OWN_VARIABLES) delete env[name];
  const child = spawn(process.execPath, [resolve(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    env: { ...env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += String(chunk);
  });
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  child.stdin.end(options.input ?? '');
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} did not finish; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`not JSON (exit ${code}): ${stdout}\nstderr: ${stderr}`);
          }
        },
      });
    });
  });
}

/**
 * `educard init`'s flags for school-1's gate `gate-east` (simulated readers, the recording IO plugin)
 * set up without questions, pinned to the root keys in `rootKeys`: the root keys last.
 */
export const gateInitFlags = (dataDir: string, rootKeys: string, fingerprint: string): string[] => [
  'init',
  '--no-input',
  '--data-dir',
  dataDir,
  '--school',
  'school-1',
  '--device',
  'gate-east',
  '--zone',
  'main-gate',
  '--readers',
  'simulated',
  '--io-plugin',
  'recording',
  '--root-keys',
  rootKeys,
  '--root-fingerprint',
  fingerprint,
];

/** `educard` with a configuration file. */
export const educard = (config: string, args: string[], options?: Parameters<typeof runCommand>[2]) =>
  runCommand(EDUCARD, ['--config', config, ...args], options);

/** `educard-bridge ARGS`. */
export const bridgeCli = (args: string[], env: Record<string, string> = {}) =>
  runCommand(BRIDGE_CLI, args, { env });

/** `educard-bridge serve --config FILE` as a child process, once it has logged that it started. */
export async function serveBridge(config: string) {
  const child = startNode(BRIDGE_CLI, ['serve', '--config', config]);
  const started = await child.waitFor((line) => line.msg === 'bridge started');
  return { child, http: String(started.http), mqtt: String(started.mqtt) };
}

export interface InitialisedBridge {
  config: string;
  rootKey: string;
  anchor: string;
  fingerprint: string;
}

/**
 * `educard-bridge init` as an operator runs it, in `dir`: the config `bridge.json`, the database and
 * roster key in `data/`, the root key on `usb/`, the anchor beside the config; HTTP on a free port and
 * the broker on any.
 */
export async function initBridge(dir: string): Promise<InitialisedBridge> {
  const config = join(dir, 'bridge.json');
  const rootKey = join(dir, 'usb', 'root-key.json');
  const init = await bridgeCli([
    'init',
    '--config',
    config,
    '--data-dir',
    join(dir, 'data'),
    '--root-key-out',
    rootKey,
    '--mqtt-port',
    '0',
    '--http-port',
    String(await freePort()),
    '--json',
  ]);
  if (init.code !== 0) throw new Error(`educard-bridge init failed (${init.code}): ${init.stderr}`);
  const { fingerprint, anchor } = init.json<{ fingerprint: string; anchor: string }>();
  return { config, rootKey, anchor, fingerprint };
}
