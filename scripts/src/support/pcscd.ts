import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socketAnswers } from '@educard/gateway';
import { VPCD_PORT } from '@educard/terminal-sdk/virtual-card';
import { exited } from './mosquitto.js';
import { until } from './until.js';

export const PCSCD = '/usr/sbin/pcscd';
export const VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so';
const SOCKET = '/run/pcscd/pcscd.comm';

export const PCSC_APT_COMMAND = 'apt-get install -y pcscd libpcsclite-dev vsmartcard-vpcd';

/** What is missing for the PC/SC stack with virtual readers, or nothing. */
export function missingPcscParts(): string[] {
  return [PCSCD, VPCD_DRIVER].filter((path) => !existsSync(path));
}

export interface Pcscd {
  readonly pid: number | undefined;
  stop(): Promise<void>;
  start(): Promise<void>;
  running(): boolean;
  /** What pcscd and its drivers printed (errors only): what explains readers that never came. */
  log(): string;
}

/**
 * pcscd's own reader configuration: vpcd on VPCD_PORT, outside the ephemeral range (see there). A
 * directory for each start, removed when that pcscd is stopped: exit handlers do not run in a test
 * worker that is ended, and left one directory in /tmp for each test file.
 */
function writeReaderConfiguration(): string {
  const dir = mkdtempSync(join(tmpdir(), 'educard-pcscd-'));
  const channel = `0x${VPCD_PORT.toString(16).toUpperCase()}`;
  writeFileSync(
    join(dir, 'vpcd'),
    `FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:${channel}\nLIBPATH ${VPCD_DRIVER}\nCHANNELID ${channel}\n`,
  );
  return dir;
}

/**
 * Debian's pcscd in the foreground, as a child stopped by its pid. There can be only one per host
 * (its socket is fixed), so this refuses to start beside another one rather than fight it.
 */
export async function startPcscd(): Promise<Pcscd> {
  const missing = missingPcscParts();
  if (missing.length) {
    throw new Error(
      `the PC/SC stack is not installed (${missing.join(', ')} missing): run ${PCSC_APT_COMMAND}`,
    );
  }
  let config: string | undefined;
  const removeConfig = () => {
    if (config) rmSync(config, { recursive: true, force: true });
    config = undefined;
  };
  let child: ChildProcess | undefined;
  let output = '';
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (running()) return;
    if (await socketAnswers(SOCKET)) {
      throw new Error(`another pcscd is running (${SOCKET} answers): stop it first, tests need their own`);
    }
    // One killed from outside (not through stop) left its configuration behind.
    removeConfig();
    config = writeReaderConfiguration();
    child = spawn(PCSCD, ['--foreground', '--error', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk) => {
      output += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      output += String(chunk);
    });
    await until(() => existsSync(SOCKET) || !running(), { what: 'pcscd to open its socket' });
    if (!running()) {
      removeConfig();
      throw new Error(`pcscd exited at start: ${output}`);
    }
  };
  const stop = async () => {
    if (!child || !running()) {
      removeConfig();
      return;
    }
    child.kill('SIGTERM');
    await exited(child);
    await until(() => !existsSync(SOCKET), { what: 'pcscd to remove its socket', timeoutMs: 5000 }).catch(
      () => undefined,
    );
    removeConfig();
  };
  await start();
  return {
    get pid() {
      return child?.pid;
    },
    start,
    stop,
    running,
    log: () => output,
  };
}
