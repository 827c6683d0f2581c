import { timingSafeEqual } from 'node:crypto';

/** Whether a secret given matches the one held, in time that does not depend on where they differ. */
export function sameSecret(given: string, held: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(held);
  return a.length === b.length && timingSafeEqual(a, b);
}
