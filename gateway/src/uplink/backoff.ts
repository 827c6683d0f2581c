/**
 * Exponential backoff with jitter: after the n-th failure, a random wait between half and all of initial·2ⁿ
 * (capped), so a school's gateways do not all reconnect in the same second after an outage.
 */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
