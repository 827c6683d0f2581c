import { z } from 'zod';

/** When the computed alarms go off (docs/operations.md). */
export const OpsConfig = z.object({
  offlineAfterMinutes: z.number().int().min(1).default(10),
  rosterStaleAfterMinutes: z.number().int().min(1).default(30),
  checkEverySeconds: z.number().int().min(1).max(3600).default(60),
});
export type OpsConfig = z.infer<typeof OpsConfig>;
