import { timingSafeEqual } from 'node:crypto';

/** Whether a secret given matches the one held, in time that does not depend on where they differ. */
export function sameSecret(given: string, held: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(held);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether an HTTP Authorization header is `Bearer <the secret held>`, compared as sameSecret does. */
export function sameBearer(header: string | undefined, held: string): boolean {
  return header?.startsWith('Bearer ') === true && sameSecret(header.slice(7), held);
}
