import { setTimeout as sleep } from 'node:timers/promises';
import { retriableStatus, retryAfterMs } from '@educard/terminal-sdk';

/**
 * fetch that tries again what a busy or restarting bridge turns away (429, 5xx, after its
 * Retry-After or `waitMs(attempt)`), and a connection that failed, but for a request that may have
 * been acted on (anything but GET and HEAD), `tries` times in all. The last answer is returned as it
 * is, for the caller to judge; the last connection error is thrown.
 */
export async function fetchRetrying(
  url: string | URL,
  init: RequestInit,
  retry: { tries: number; waitMs: (attempt: number) => number },
): Promise<Response> {
  const idempotent = ['GET', 'HEAD'].includes((init.method ?? 'GET').toUpperCase());
  for (let attempt = 0; ; attempt++) {
    let waitMs = retry.waitMs(attempt);
    const last = attempt + 1 >= retry.tries;
    try {
      const response = await fetch(url, init);
      if (!retriableStatus(response.status) || last) return response;
      await response.body?.cancel();
      waitMs = retryAfterMs(response.headers.get('retry-after')) ?? waitMs;
    } catch (error) {
      if (!(error instanceof TypeError) || !idempotent || last) throw error;
    }
    await sleep(waitMs);
  }
}
