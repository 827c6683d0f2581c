import { z } from 'zod';
import { IsoTime, Sha256Hex, SPEC_VERSION } from './common.js';
import { MAX_MESSAGE_BYTES } from './messages.js';
import { SignedEnvelopeSchema } from './signed.js';

/**
 * The signed document that stands for a hotlist body (docs/hotlist.md), after the roster's manifest:
 * version (no rollback), expiry (a frozen list is noticed), the body's kind, length, digest and entry
 * count. Signed by the roster-signing keys of the current key set. A hotlist is the whole district's:
 * it names no school.
 */
export const HotlistManifest = z.object({
  type: z.literal('hotlist-manifest'),
  spec: z.literal(SPEC_VERSION),
  version: z.number().int().positive().max(0xffff_ffff),
  issuedAt: IsoTime,
  expiresAt: IsoTime,
  /** The key set version the signer held. */
  keySetVersion: z.number().int().positive(),
  body: z.object({
    kind: z.enum(['snapshot', 'delta']),
    fromVersion: z.number().int().positive().optional(),
    sha256: Sha256Hex,
    length: z.number().int().nonnegative(),
    entries: z.number().int().nonnegative(),
  }),
});
export type HotlistManifest = z.infer<typeof HotlistManifest>;

/** Retained on `topics.hotlistSnapshot`: the latest snapshot's manifest; the body is at `url` on the bridge. */
export const HotlistSnapshotMessage = z.object({
  v: z.literal(SPEC_VERSION),
  manifest: SignedEnvelopeSchema,
  url: z.string().min(1).max(512),
});
export type HotlistSnapshotMessage = z.infer<typeof HotlistSnapshotMessage>;

/** Retained on `topics.hotlistDelta`: the latest delta, its binary body in base64. */
export const HotlistDeltaMessage = z.object({
  v: z.literal(SPEC_VERSION),
  manifest: SignedEnvelopeSchema,
  body: z.string().max(MAX_MESSAGE_BYTES),
});
export type HotlistDeltaMessage = z.infer<typeof HotlistDeltaMessage>;
