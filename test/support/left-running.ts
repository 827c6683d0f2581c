import { until } from '@educard/scripts/support';
import { afterAll, beforeAll, expect } from 'vitest';

/**
 * What a test file must not leave running for the next file of its worker (vitest.config.ts: files
 * share a process): TCP servers, UDP sockets and child processes. Sockets and timers are not
 * counted: a client's keep-alive connection or a library's timer goes by itself. Nor are unix
 * socket servers: Node names them PipeWrap, as it does a child's stdio and a client's unix socket.
 */
const WATCHED = ['TCPServerWrap', 'UDPWrap', 'ProcessWrap'];

function running(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo())
    if (WATCHED.includes(kind)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

let before = new Map<string, number>();

function leftRunning(): string[] {
  return [...running()]
    .filter(([kind, count]) => count > (before.get(kind) ?? 0))
    .map(([kind, count]) => `${count - (before.get(kind) ?? 0)} ${kind}`);
}

beforeAll(() => {
  before = running();
});

// Runs after the file's own afterAll hooks (they run in reverse order of registration). A child
// killed in them is reaped, and a server closed, within a moment.
afterAll(async () => {
  // Waits up to 5 s for what is being closed (expect.poll is not allowed in a hook), then says what is left.
  await until(() => leftRunning().length === 0, { timeoutMs: 5000, everyMs: 50 }).catch(() => undefined);
  expect(leftRunning(), 'servers or child processes this test file left running').toEqual([]);
});
