import { z } from 'zod';

/** Sessions and sign-in throttling of the pages' accounts (docs/accounts.md). */
export const AccountsConfig = z.object({
  sessionIdleMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(30),
  sessionAbsoluteHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 7)
    .default(12),
  loginAttempts: z.number().int().min(1).max(100).default(5),
  lockoutMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(5),
});
export type AccountsConfig = z.infer<typeof AccountsConfig>;
