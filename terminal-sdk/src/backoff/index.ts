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
