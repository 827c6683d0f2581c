export { dayStart, instantOn } from '../../policy/index.js';

const MINUTE = 60_000;

export const iso = (ms: number) => new Date(ms).toISOString();

/** Whole minutes from `from` to `to`, never negative. */
export function wholeMinutes(from: number, to: number): number {
  return Math.max(0, Math.floor((to - from) / MINUTE));
}

/** Minutes left until `until`, rounded up (a session with 30 s left shows 1), never negative. */
export function minutesLeft(now: number, until: number): number {
  return Math.max(0, Math.ceil((until - now) / MINUTE));
}
