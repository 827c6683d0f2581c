import { z } from 'zod';
import { MAX_STARTS, UPDATE_ROOT } from './defaults.js';

/** How this gateway takes software updates (docs/updates.md). */
export const UpdateConfig = z.object({
  /**
   * Where releases live side by side (`releases/<version>/`) with the links `current` (what runs),
   * `committed` (the last release that passed its commit check) and `previous`. Updates are off on a
   * gateway not installed this way (no `current` link there).
   */
  root: z.string().min(1).default(UPDATE_ROOT),
  /** How long a new release has to pass its commit check; past it the gateway goes back by itself. */
  commitTimeoutMs: z.number().int().min(5_000).max(3_600_000).default(180_000),
  /**
   * How often a release on trial may be started: one more start (after a crash, a watchdog kill or a
   * power cut before its check passed) rolls it back.
   */
  maxStarts: z.number().int().min(MAX_STARTS.min).max(MAX_STARTS.max).default(MAX_STARTS.default),
  /** Files fetched at once from the bridge. */
  parallelDownloads: z.number().int().min(1).max(16).default(4),
  /**
   * How often one file whose download was interrupted (the bridge busy, the link cut) is tried again,
   * resuming and backing off from 1 s to 30 s, before the device waits for the next offer.
   */
  downloadRetries: z.number().int().min(0).max(20).default(6),
  /** How often a release waiting to be switched in asks the update lock again. */
  lockPollMs: z.number().int().min(20).max(60_000).default(1000),
});
export type UpdateConfig = z.infer<typeof UpdateConfig>;
