import type { Logger } from 'pino';

/** What the bridge must know of a signed manifest to tell whether to sign it again. */
export interface SignedDates {
  keySetVersion: number;
  expiresAt: string;
}

/**
 * Whether a school's latest manifest must be issued again: signed under an older key set, or past
 * half its validity. A gateway refuses pupils once its roster's manifest has expired
 * (`roster-stale`), so a school where nothing changed for a week must still be signed again in time.
 */
export function needsRenewal(
  signed: SignedDates | undefined,
  current: { keySetVersion: number; nowMs: number; ttlMs: number },
): boolean {
  if (!signed) return true;
  return (
    signed.keySetVersion < current.keySetVersion ||
    Date.parse(signed.expiresAt) - current.nowMs < current.ttlMs / 2
  );
}

/** How often the roster and catalogue services look for a manifest to sign again. */
export const RENEWAL_CHECK_MS = 3_600_000;

/**
 * Runs `renew` every `everyMs` until stopped; a failure is logged and the next round tries again. The
 * timer does not hold the process open.
 */
export function renewalTimer(
  renew: () => Promise<unknown>,
  options: { everyMs: number; logger: Logger; what: string },
): { stop(): void } {
  const timer = setInterval(() => {
    renew().catch((error: unknown) =>
      options.logger.error(
        { err: error },
        `${options.what}: signing again failed, retrying at the next check`,
      ),
    );
  }, options.everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
