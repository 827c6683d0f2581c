import { z } from 'zod';

/** How the bridge hands out release files (docs/updates.md). */
export const ReleasesConfig = z.object({
  /** One device's download rate: a rollout never takes a gateway's whole link. */
  deviceBytesPerSecond: z.number().int().min(1024).default(2_000_000),
  /** All the devices of one school together: a school's uplink keeps room for its events. */
  schoolBytesPerSecond: z.number().int().min(1024).default(8_000_000),
  /** Downloads one device may have open at once; more are answered 429. */
  maxDownloadsPerDevice: z.number().int().min(1).max(64).default(8),
  /**
   * Downloads the whole bridge serves at once; more are answered 429 with Retry-After, and the devices
   * come back. The per-device and per-school rates bound each link; this bounds the bridge's own work,
   * so that a rollout to a thousand devices at once leaves it time for the events they send.
   */
  maxDownloads: z.number().int().min(1).max(4096).default(64),
});
export type ReleasesConfig = z.infer<typeof ReleasesConfig>;
