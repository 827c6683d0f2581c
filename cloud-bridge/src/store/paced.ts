import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Runs `batch` (one short transaction) until it says it is done or `stopped()`, and after each
 * waits in proportion to the time it took, so that the batches take no more than `share` of the
 * bridge's time: work that may go slowly (a purge) leaves the rest to ingest and the API. No
 * transaction is held across the wait.
 */
export async function inPacedBatches(
  share: number,
  batch: () => boolean,
  stopped: () => boolean = () => false,
): Promise<void> {
  while (!stopped()) {
    const started = performance.now();
    if (batch()) return;
    await sleep(((performance.now() - started) * (1 - share)) / share);
  }
}
