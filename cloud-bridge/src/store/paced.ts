import { setTimeout as sleep } from 'node:timers/promises';

export interface Pace {
  /** The share of the bridge's time the batches may take. */
  share: number;
  /** Items a second at most, whatever the batches' time (`null`: no bound but `share`). */
  perSecond: number | null;
}

/**
 * Runs `batch` (one short transaction, giving how many items it did and whether it is done) until
 * it is done or `signal` aborts, and after each waits long enough that the batches take no more than
 * `share` of the bridge's time and do no more than `perSecond` items: work that may go slowly (a
 * purge) leaves the rest to ingest and the API. The rate bound is for what the batch's own time does
 * not show: the disk writes of its commit that other writers' commits then wait for. No
 * transaction is held across the wait, and an abort ends the wait at once: a bridge stopping does
 * not sit out the pacing.
 */
export async function inPacedBatches(
  pace: Pace,
  batch: () => { done: boolean; items: number },
  signal?: AbortSignal,
): Promise<void> {
  while (!signal?.aborted) {
    const started = performance.now();
    const { done, items } = batch();
    if (done) return;
    const spent = performance.now() - started;
    const byShare = (spent * (1 - pace.share)) / pace.share;
    const byRate = pace.perSecond === null ? 0 : (items * 1000) / pace.perSecond - spent;
    await sleep(Math.max(byShare, byRate), undefined, { signal }).catch(() => undefined);
  }
}
