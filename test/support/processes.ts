import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

export interface Child {
  process: ChildProcess;
  /** Every JSON log line the child wrote to standard output, parsed. */
  lines: Record<string, unknown>[];
  /** Resolves with the first line that satisfies `match`, already seen or still to come. */
  waitFor(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** Runs a built entry point (a file under some workspace's dist/) as a real child process. */
export function startNode(
  script: string,
  args: string[],
  options: { env?: Record<string, string>; nodeFlags?: readonly string[] } = {},
): Child {
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), join(REPO_ROOT, script), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    match: (line: Record<string, unknown>) => boolean;
    resolve: (line: Record<string, unknown>) => void;
  }[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text);
    } catch {
      return;
    }
    lines.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.match(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  return {
    process: child,
    lines,
    stderr: () => stderr,
    waitFor(match, timeoutMs = 15_000) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for a log line; stderr: ${stderr}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
      });
    },
  };
}

export { exited } from '@educard/scripts/support';

/**
 * A stand-in for systemd's notify socket: `systemd-notify` in `dir`/bin (put it first on the PATH)
 * appends what it was told to `dir`/notify.log. Both are open to every user, so a service run as its
 * own user can use them.
 */
export async function fakeSystemdNotify(dir: string): Promise<{ bin: string; log: string }> {
  const bin = join(dir, 'bin');
  const log = join(dir, 'notify.log');
  await mkdir(bin, { recursive: true });
  await writeFile(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$*" >> ${log}\n`);
  await writeFile(log, '');
  await chmod(join(bin, 'systemd-notify'), 0o755);
  await chmod(log, 0o666);
  await chmod(dir, 0o755);
  return { bin, log };
}
