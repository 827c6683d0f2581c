import { z } from 'zod';
import type { Ed25519KeyPair } from '../crypto/ed25519.js';
import { CatalogueManifest, type IssuedCatalogue, issueSnapshotDocument } from './catalogue.js';
import { Identifier, IsoDate, IsoTime, SPEC_VERSION } from './common.js';
import { MAX_MESSAGE_BYTES } from './messages.js';
import { SignedEnvelopeSchema } from './signed.js';

/**
 * What a venue (a museum, a youth activity centre: `station.type: "venue"`) takes from the bridge
 * besides the hotlist: its plan, the class visits booked there. Signed like a catalogue, by the
 * roster-signing keys, and small enough to travel whole in one retained message.
 */

/** A local wall-clock time, HH:MM, in the venue's time zone. */
const LocalClock = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 00:00 to 23:59');

/** A class's booked visit: its teachers' tap admits it, its pupils then tap in while it lasts. */
export const ClassVisit = z
  .object({
    bookingId: Identifier,
    /** The visiting school and class, as the bridge's directory names them. */
    school: Identifier,
    class: z.string().min(1).max(32),
    /** The day, in the venue's time zone, and the slot booked. */
    date: IsoDate,
    from: LocalClock,
    until: LocalClock,
    /** Card numbers of the teachers whose tap admits the class. */
    teachers: z.array(Identifier).min(1).max(16),
    /** Card numbers of the class's pupils. */
    pupils: z.array(Identifier).max(200),
  })
  .refine((visit) => visit.from < visit.until, { message: 'a visit ends after it starts', path: ['until'] });
export type ClassVisit = z.infer<typeof ClassVisit>;

export const VenuePlan = z.object({
  kind: z.literal('venue-plan'),
  /** The venue's site: the `device.school` of its gateways. */
  school: Identifier,
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  visits: z.array(ClassVisit).max(5000),
});
export type VenuePlan = z.infer<typeof VenuePlan>;

/** The signed document that stands for a venue plan: the catalogue's manifest, under its own type. */
export const VenuePlanManifest = CatalogueManifest.extend({ type: z.literal('venue-plan-manifest') });
export type VenuePlanManifest = z.infer<typeof VenuePlanManifest>;

/** Retained on `topics.venuePlan`: the latest plan, manifest and body together. */
export const VenuePlanMessage = z.object({
  v: z.literal(SPEC_VERSION),
  manifest: SignedEnvelopeSchema,
  body: z.string().max(MAX_MESSAGE_BYTES),
});
export type VenuePlanMessage = z.infer<typeof VenuePlanMessage>;

export function issueVenuePlan(
  plan: VenuePlan,
  input: { expiresAt: string; keySetVersion: number; signers: Ed25519KeyPair[] },
): IssuedCatalogue {
  return issueSnapshotDocument('venue-plan-manifest', plan, input);
}
