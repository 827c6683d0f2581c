import { z } from 'zod';

const Span = z.object({
  /** Minutes before the bell (or dismissal) the window opens. */
  beforeMin: z.number().int().min(0).max(240),
  /** Minutes after it that it closes. */
  afterMin: z.number().int().min(0).max(240),
});

/** When gateways may switch releases, and how often the rollouts move (docs/updates.md). */
export const RolloutsConfig = z.object({
  /** Around each school day's bell: pupils arrive, no gate restarts. */
  arrival: Span.default({ beforeMin: 60, afterMin: 30 }),
  /** Around dismissal. */
  dismissal: Span.default({ beforeMin: 15, afterMin: 45 }),
  /** How many days of quiet windows an offer carries; a device past them waits for the next offer. */
  quietDays: z.number().int().min(1).max(60).default(14),
  /**
   * A device under way (offered, downloading, switching, checking) holds its phase up while it is
   * online, and for this long after it last reported while it is not: a gateway restarting into a new
   * release is offline for seconds, one taken off the network for days must not stop the rollout.
   */
  stallMinutes: z.number().int().min(1).max(10_080).default(30),
  /** How often the rollouts offer the next devices and check their rules. */
  tickMs: z.number().int().min(10).max(60_000).default(1000),
});
export type RolloutsConfig = z.infer<typeof RolloutsConfig>;
