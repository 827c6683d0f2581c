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
  /** Failed sign-ins from one address (whatever the user names) before it is locked out too. */
  addressAttempts: z.number().int().min(1).max(10_000).default(30),
  /** Sign-ins whose password is checked at once (each takes a core for ~30 ms), and a second; more wait… */
  concurrentPasswordChecks: z.number().int().min(1).max(64).default(1),
  passwordChecksPerSecond: z.number().min(0.1).max(1000).default(10),
  /** …up to this many; past it a sign-in is answered 503 at once, so a flood cannot queue. */
  queuedPasswordChecks: z.number().int().min(0).max(1000).default(16),
  lockoutMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60)
    .default(5),
});
export type AccountsConfig = z.infer<typeof AccountsConfig>;
