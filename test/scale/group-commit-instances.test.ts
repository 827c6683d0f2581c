import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openPostgresStore } from '@educard/cloud-bridge';
import { type Postgres, startPostgres } from '@educard/scripts/support';
import { afterAll, beforeAll, expect, it } from 'vitest';

/** Run from dist/ (build first), as the bridge processes of the tests are. */
const COMMITTER = join(import.meta.dirname, '../../scripts/dist/support/group-committer.js');
const DEVICES = 30;
const ROUNDS = 40;

let postgres: Postgres;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

/** One committer process to its end; its counts. */
function runCommitter(
  url: string,
  order: 'forward' | 'reverse',
): Promise<{ failed: number; stored: number }> {
  const child = spawn(process.execPath, [COMMITTER, url, order, String(DEVICES), String(ROUNDS)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += String(chunk);
  });
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`committer ${order} exited with ${code}`)),
    ),
  );
}

it('two instances committing groups of the same devices, arrived in opposite orders, never deadlock', async () => {
  // As while a partition moves: both instances commit batches of one set of devices at once, each
  // group taking the devices' advisory locks. Taken in arrival order, the two deadlock and PostgreSQL
  // aborts a whole group; taken in one order, one waits for the other.
  const url = postgres.createSchema('group_commit');
  // Its tables made before the two start, as a running district has them.
  const store = openPostgresStore(url);
  try {
    const [forward, reverse] = await Promise.all([
      runCommitter(url, 'forward'),
      runCommitter(url, 'reverse'),
    ]);
    expect(forward.failed + reverse.failed).toBe(0);
    // Each record once, whichever instance stored it.
    expect(forward.stored + reverse.stored).toBe(DEVICES * ROUNDS);
    expect(store.countEvents()).toBe(DEVICES * ROUNDS);
  } finally {
    store.close();
  }
}, 180_000);
