import { z } from 'zod';

/** When the computed alarms go off (docs/operations.md). */
export const OpsConfig = z.object({
  offlineAfterMinutes: z.number().int().min(1).default(10),
  rosterStaleAfterMinutes: z.number().int().min(1).default(30),
  checkEverySeconds: z.number().int().min(1).max(3600).default(60),
  /** Live event streams one account (or the admin token) may hold open at once: a few tabs. */
  streamsPerAccount: z.number().int().min(1).max(100).default(4),
  /** Live event streams in all. */
  maxStreams: z.number().int().min(1).max(10_000).default(200),
});
export type OpsConfig = z.infer<typeof OpsConfig>;
