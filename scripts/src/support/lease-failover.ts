import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../paths.js';
import { exited } from './mosquitto.js';

/** Run from dist/ (build first), as the bridge processes of the tests are. */
const HOLDER = join(REPO_ROOT, 'scripts/dist/support/lease-holder.js');

interface Holder {
  name: string;
  pid: number;
  /** Resolves with the time (ms since the epoch) it says it took the lease. */
  gained: Promise<number>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

function startHolder(url: string, lease: string, name: string, ttlMs: number): Holder {
  const child = spawn(process.execPath, [HOLDER, url, lease, name, String(ttlMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const gained = new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      const said = JSON.parse(line) as { gained?: true; at: number };
      if (said.gained !== undefined) resolve(said.at);
    });
    child.once('exit', (code) =>
      reject(new Error(`lease holder ${name} exited (${code}) before it took the lease`)),
    );
  });
  gained.catch(() => undefined);
  return {
    name,
    pid: child.pid as number,
    gained,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited(child);
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
  const a = startHolder(url, lease, 'bridge-a', ttlMs);
  const b = startHolder(url, lease, 'bridge-b', ttlMs);
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
