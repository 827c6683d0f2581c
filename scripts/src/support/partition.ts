import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../paths.js';
import { exited } from './mosquitto.js';

/** Run from dist/ (build first), as the bridge processes of the tests are. */
const PROGRAM = join(REPO_ROOT, 'scripts/dist/support/partitioned-statement.js');

export type PartitionedStatement =
  | { failedAfterMs: number; error: string }
  | { answeredAfterMs: number }
  | { stillWaitingAfterMs: number };

/**
 * How a statement of the bridge's PostgreSQL connection ends when the network to the server is cut
 * (partitioned-statement.ts), in a network namespace of its own: it needs root, as the storage
 * tests' loop devices do. A statement still waiting after `giveUpAfterMs` is reported so, its process
 * and server killed and the server's files removed.
 */
export async function statementIntoPartition(giveUpAfterMs: number): Promise<PartitionedStatement> {
  const child = spawn('unshare', ['--net', process.execPath, PROGRAM], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: the server it started goes with it when it is given up on.
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-2000);
  });
  const started = performance.now();
  const giveUp = setTimeout(() => {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  }, giveUpAfterMs);
  const code = await exited(child, giveUpAfterMs + 10_000);
  clearTimeout(giveUp);
  const said = out
    .split('\n')
    .filter((each) => each.startsWith('{'))
    .map((each) => JSON.parse(each) as PartitionedStatement | { serverDir: string });
  const outcome = said.find((each): each is PartitionedStatement => !('serverDir' in each));
  if (outcome) return outcome;
  if (child.signalCode === 'SIGKILL') {
    for (const each of said)
      if ('serverDir' in each) await rm(each.serverDir, { recursive: true, force: true });
    return { stillWaitingAfterMs: Math.round(performance.now() - started) };
  }
  throw new Error(
    `the partitioned statement did not run (exit ${code}; a network namespace needs root): ${err.trim()}`,
  );
}
