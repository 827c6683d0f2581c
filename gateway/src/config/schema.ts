import { Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';
// Straight from the file, not the folder's index (see config/index.ts).
import { Sip2Config } from '../sip2/config.js';
import { LabConfig } from '../stations/lab/config.js';
import { VenueConfig } from '../stations/venue/config.js';
import { RegexPattern } from './patterns.js';

export const ReaderBinding = z.object({
  /** A regular expression matched against the reader's name, e.g. "^ACS ACR1252 .* 00$". */
  pattern: RegexPattern,
  direction: z.enum(['in', 'out', 'none']).default('none'),
});

export const ReadersConfig = z.object({
  /** `pcsc`: readers through pcscd; `simulated`: readers in memory, for demos and tests. */
  driver: z.enum(['simulated', 'pcsc']).default('simulated'),
  pcsc: z
    .object({
      /** Longest wait for one APDU's answer before the tap is denied as unreadable. */
      exchangeTimeoutMs: z.number().int().min(50).max(10_000).default(1000),
      /** How soon the PC/SC binding is made again after pcscd went away. */
      recoveryMs: z.number().int().min(100).max(60_000).default(1000),
    })
    .prefault({}),
  /** The simulated driver's readers. */
  simulated: z.array(z.string().min(1)).default(['sim-in', 'sim-out']),
  /** A tap script (JSON lines) the simulated driver plays at start; "-" for standard input. */
  script: z.string().optional(),
  bindings: z.array(ReaderBinding).default([
    { pattern: '-in$', direction: 'in' },
    { pattern: '-out$', direction: 'out' },
  ]),
});

export const JournalSettings = z.object({
  segmentBytes: z
    .number()
    .int()
    .min(4096)
    .default(4 * 1024 * 1024),
  budgetBytes: z
    .number()
    .int()
    .positive()
    .default(512 * 1024 * 1024),
  minFreeBytes: z
    .number()
    .int()
    .nonnegative()
    .default(64 * 1024 * 1024),
  /**
   * Records held in memory while the disk takes no writes (full, or failing): past this many the
   * oldest are dropped and counted as lost. About 600 bytes each.
   */
  maxHeldRecords: z.number().int().min(100).max(1_000_000).default(50_000),
  /** How long a stop waits for the disk before it reports what it could not write. */
  stopWaitMs: z.number().int().min(100).max(10_000).default(3_000),
});

const StationBase = {
  id: Identifier,
  zone: Identifier,
  /** The same card on the same reader again within this long is one tap. */
  debounceMs: z.number().int().nonnegative().default(3000),
};

export const GateStationSettings = z.object({ type: z.literal('gate'), ...StationBase });
export const LibraryStationSettings = z.object({
  type: z.literal('library'),
  ...StationBase,
  /** The school's library system, when it speaks SIP2: the source of truth (docs/sip2.md). */
  sip2: Sip2Config.optional(),
});
export const LabStationSettings = LabConfig.extend({ type: z.literal('lab') });
export const VenueStationSettings = VenueConfig.extend({ type: z.literal('venue') });

/**
 * What this gateway's readers serve: a gate (the default, when `type` is left out), a library desk, a
 * computer room or a venue (docs/venues.md), each with its own settings.
 */
export const StationConfig = z.preprocess(
  (value) => (value && typeof value === 'object' && !('type' in value) ? { ...value, type: 'gate' } : value),
  z.discriminatedUnion('type', [
    GateStationSettings,
    LibraryStationSettings,
    LabStationSettings,
    VenueStationSettings,
  ]),
);
export type StationConfig = z.infer<typeof StationConfig>;
