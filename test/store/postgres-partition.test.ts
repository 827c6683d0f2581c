import { CONNECTION_BOUNDS } from '@educard/cloud-bridge';
import { statementIntoPartition } from '@educard/scripts/support';
import { expect, it } from 'vitest';

it('fails a statement sent into a network partition after tcp_user_timeout, not after minutes of retransmissions', async () => {
  // In a network namespace of its own: the server, a connection over TCP, then the network cut.
  // Without the bound, TCP retransmits for about 15 minutes, and the statement is still waiting
  // when this gives up.
  const bound = Number(CONNECTION_BOUNDS.tcp_user_timeout);
  const outcome = await statementIntoPartition(3 * bound);
  expect(outcome).toMatchObject({ error: expect.stringMatching(/timed out/i) });
  const { failedAfterMs } = outcome as { failedAfterMs: number };
  expect(failedAfterMs).toBeGreaterThanOrEqual(bound - 1000);
  expect(failedAfterMs).toBeLessThan(bound + 10_000);
}, 120_000);
