/**
 * Exponential backoff with equal jitter: the wait before retry n (0 for the first) is random between
 * half and all of initial·2ⁿ (capped at max), so a school's gateways do not all reconnect in the same
 * second after an outage, nor the bridge's senders hit a recovering server together. The gateway's
 * uplink, the bridge's central outbox and its parent notices all wait by it.
 */
export function backoffDelay(retry: number, initialMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(retry, 0), 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The wait an HTTP `Retry-After` header asks for (seconds, or a date), in ms: undefined when there is
 * none or it cannot be read, 0 for a date already past.
 */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/** Whether an HTTP answer is worth asking again after a wait: the server busy (429) or at fault (5xx). */
export function retriableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}
