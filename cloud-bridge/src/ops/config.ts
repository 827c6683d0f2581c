import { z } from 'zod';
import { isMonthDay } from './dates.js';

/** When the computed alarms go off (docs/operations.md). */
export const OpsConfig = z.object({
  offlineAfterMinutes: z.number().int().min(1).default(10),
  rosterStaleAfterMinutes: z.number().int().min(1).default(30),
  checkEverySeconds: z.number().int().min(1).max(3600).default(60),
  /** What expires within this many days is flagged and raises its alarm (a roster: see docs/operations.md). */
  expiryWarningDays: z.number().int().min(1).max(365).default(14),
  /** The first day of the district's school year, `MM-DD`: the year whose calendar must name its holidays. */
  schoolYearStart: z
    .string()
    .refine(isMonthDay, 'MM-DD, a day every year has (09-01; not 02-29)')
    .default('09-01'),
  /** Live event streams one account (or the admin token) may hold open at once: a few tabs. */
  streamsPerAccount: z.number().int().min(1).max(100).default(4),
  /** Live event streams in all. */
  maxStreams: z.number().int().min(1).max(10_000).default(200),
});
export type OpsConfig = z.infer<typeof OpsConfig>;
