import { z } from 'zod';
import { canonicalBytes } from '../canonical/index.js';
import { type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { sha256Hex } from '../crypto/encoding.js';
import { Identifier, IsoTime, Sha256Hex, SPEC_VERSION } from './common.js';
import { SignedEnvelopeSchema, signDocument } from './signed.js';
import { ItemId } from './stations.js';

/**
 * A school library's catalogue and lending rules, distributed to gateways the way the roster is: a
 * snapshot body hashed natively, behind a small manifest signed by the roster-signing keys of the
 * current key set. Snapshots only: a catalogue changes by the term, not by the minute.
 */

/** What one role may borrow: how many items at once, for how many days, renewed how many times. */
export const LoanRules = z.object({
  loanLimit: z.number().int().min(0).max(1000),
  loanDays: z.number().int().min(1).max(3650),
  renewals: z.number().int().min(0).max(100),
});
export type LoanRules = z.infer<typeof LoanRules>;

export const CatalogueRules = z.object({ student: LoanRules, teacher: LoanRules, staff: LoanRules });
export type CatalogueRules = z.infer<typeof CatalogueRules>;

/** The rules a school starts with until it sets its own. */
export const DEFAULT_LOAN_RULES: CatalogueRules = {
  student: { loanLimit: 5, loanDays: 14, renewals: 2 },
  teacher: { loanLimit: 20, loanDays: 28, renewals: 3 },
  staff: { loanLimit: 10, loanDays: 28, renewals: 3 },
};

/**
 * Whole days a loan due at `dueAt` is late at `at` (0 when not late), counted in periods of 24 hours
 * from the due instant: a loan due at the end of a school day is one day late the whole next day. The
 * desk and the bridge's overdue list count alike.
 */
export function daysLate(dueAt: string, at: Date): number {
  const late = at.getTime() - Date.parse(dueAt);
  return late > 0 ? Math.ceil(late / 86_400_000) : 0;
}

/** `reference` items are read in the library and never lent; `withdrawn` ones are no longer held. */
export const ITEM_STATUSES = ['available', 'reference', 'withdrawn'] as const;
export const ItemStatus = z.enum(ITEM_STATUSES);
export type ItemStatus = z.infer<typeof ItemStatus>;

export const CatalogueItem = z.object({
  itemId: ItemId,
  title: z.string().min(1).max(256),
  callNumber: z.string().max(64).optional(),
  /** Absent means available. */
  status: ItemStatus.optional(),
});
export type CatalogueItem = z.infer<typeof CatalogueItem>;

export const CatalogueSnapshot = z.object({
  kind: z.literal('catalogue'),
  school: Identifier,
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  rules: CatalogueRules,
  items: z.array(CatalogueItem).max(2_000_000),
});
export type CatalogueSnapshot = z.infer<typeof CatalogueSnapshot>;

/** The signed document that stands for a catalogue body, after the roster's manifest. */
export const CatalogueManifest = z.object({
  type: z.literal('catalogue-manifest'),
  spec: z.literal(SPEC_VERSION),
  school: Identifier,
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  expiresAt: IsoTime,
  /** The key set version the signer held. */
  keySetVersion: z.number().int().positive(),
  body: z.object({ sha256: Sha256Hex, length: z.number().int().nonnegative() }),
});
export type CatalogueManifest = z.infer<typeof CatalogueManifest>;

/** Retained on `topics.catalogueSnapshot`: the latest manifest; the body is at `url` on the bridge. */
export const CatalogueSnapshotMessage = z.object({
  v: z.literal(SPEC_VERSION),
  manifest: SignedEnvelopeSchema,
  url: z.string().min(1).max(512),
});
export type CatalogueSnapshotMessage = z.infer<typeof CatalogueSnapshotMessage>;

export interface IssuedCatalogue {
  manifest: Uint8Array;
  body: Uint8Array;
}

/** Signs a catalogue the way rosters are signed: the body serialised once, only the manifest signed. */
export function issueCatalogue(
  body: CatalogueSnapshot,
  input: { expiresAt: string; keySetVersion: number; signers: Ed25519KeyPair[] },
): IssuedCatalogue {
  return issueSnapshotDocument('catalogue-manifest', body, input);
}

/**
 * Signs a snapshot document of one school (a catalogue, a venue's plan): its canonical bytes are the
 * body, and a manifest of `type` in the catalogue's shape carries their digest and length.
 */
export function issueSnapshotDocument<Type extends string>(
  type: Type,
  body: { school: string; version: number; issuedAt: string },
  input: { expiresAt: string; keySetVersion: number; signers: Ed25519KeyPair[] },
): IssuedCatalogue {
  const bodyBytes = canonicalBytes(body);
  const manifest: Omit<CatalogueManifest, 'type'> & { type: Type } = {
    type,
    spec: SPEC_VERSION,
    school: body.school,
    version: body.version,
    issuedAt: body.issuedAt,
    expiresAt: input.expiresAt,
    keySetVersion: input.keySetVersion,
    body: { sha256: sha256Hex(bodyBytes), length: bodyBytes.length },
  };
  return {
    manifest: Buffer.from(JSON.stringify(signDocument(manifest, input.signers, ed25519)), 'utf8'),
    body: bodyBytes,
  };
}
