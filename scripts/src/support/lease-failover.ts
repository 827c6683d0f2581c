import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../paths.js';
import { exited } from './mosquitto.js';

/** Run from dist/ (build first), as the bridge processes of the tests are. */
const HOLDER = join(REPO_ROOT, 'scripts/dist/support/lease-holder.js');

export interface LeaseHolder {
  name: string;
  pid: number;
  /** Resolves when it says it is running: its tables migrated, trying for the lease. */
  running: Promise<void>;
  /** Resolves with the time (ms since the epoch) it says it took the lease. */
  gained: Promise<number>;
  /** Signals it unless it has exited, and resolves with its exit code (null if a signal ended it). */
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** A process on one PostgreSQL database trying for one lease through the bridge's `Duties`. */
export function startLeaseHolder(url: string, lease: string, name: string, ttlMs: number): LeaseHolder {
  const child = spawn(process.execPath, [HOLDER, url, lease, name, String(ttlMs)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  child.stderr.on('data', (chunk: Buffer) => {
    said = (said + chunk.toString()).slice(-2000);
  });
  const lines = createInterface({ input: child.stdout });
  const exit = new Promise<never>((_, reject) =>
    child.once('close', (code) => reject(new Error(`lease holder ${name} exited (${code}): ${said.trim()}`))),
  );
  const told = (what: 'running' | 'gained') =>
    Promise.race([
      new Promise<number>((resolve) =>
        lines.on('line', (line) => {
          const heard = JSON.parse(line) as { running?: true; gained?: true; at: number };
          if (heard[what] !== undefined) resolve(heard.at);
        }),
      ),
      exit,
    ]);
  const running = told('running').then(() => undefined);
  const gained = told('gained');
  for (const promise of [exit, running, gained]) promise.catch(() => undefined);
  return {
    name,
    pid: child.pid as number,
    running,
    gained,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited(child);
    },
  };
}

/**
 * Two processes on one PostgreSQL database try for one lease; the one that takes it is killed with
 * SIGKILL (no release: the lease must expire) and the other's takeover is timed, from the kill to its
 * saying it holds the lease. Both processes are stopped by pid at the end.
 */
export async function measureLeaseFailover(
  url: string,
  options: { lease?: string; ttlMs?: number } = {},
): Promise<{ failoverMs: number; first: string; second: string }> {
  const lease = options.lease ?? 'central.outbox';
  const ttlMs = options.ttlMs ?? 6000;
  const a = startLeaseHolder(url, lease, 'bridge-a', ttlMs);
  const b = startLeaseHolder(url, lease, 'bridge-b', ttlMs);
  try {
    const first = await Promise.race([a.gained.then(() => a), b.gained.then(() => b)]);
    const second = first === a ? b : a;
    // Both running past a renewal, the first renewing.
    await new Promise((resolve) => setTimeout(resolve, ttlMs / 2));
    const killedAt = Date.now();
    await first.kill('SIGKILL');
    const gainedAt = await second.gained;
    if (gainedAt < killedAt) throw new Error(`${second.name} took the lease while ${first.name} held it`);
    return { failoverMs: gainedAt - killedAt, first: first.name, second: second.name };
  } finally {
    await Promise.all([a.kill('SIGTERM'), b.kill('SIGTERM')]);
  }
}
