import { z } from 'zod';

export const PolicyConfig = z.object({
  /** What a gate does once the roster in force has expired: it may be frozen by an attacker. */
  rosterExpired: z
    .object({
      mode: z.enum(['deny-all', 'staff-only']).default('staff-only'),
      /** How long after expiry teachers and staff are still let in, flagged. */
      graceMs: z
        .number()
        .int()
        .nonnegative()
        .default(3 * 86_400_000),
    })
    .prefault({}),
  /**
   * What a gate does when its clock is before the time floor or the roster's issue time (a Pi without a
   * real-time clock after a power cut): deny everyone, let teachers and staff in, or decide without the
   * checks that need the time.
   */
  clockUntrusted: z.enum(['deny-all', 'staff-only', 'ignore-time']).default('staff-only'),
  /**
   * Who a gate lets in while its lockdown switch is on: no one, or teachers and staff (who may need
   * to get in to shelter). Exits are never refused for a lockdown.
   */
  lockdown: z.enum(['deny-all', 'staff-only']).default('staff-only'),
  passback: z
    .object({
      mode: z.enum(['off', 'soft', 'hard']).default('soft'),
      /** After this long a person may pass the same way again (timed anti-passback). */
      windowMs: z
        .number()
        .int()
        .positive()
        .default(4 * 3_600_000),
    })
    .prefault({}),
});
export type PolicyConfig = z.infer<typeof PolicyConfig>;
