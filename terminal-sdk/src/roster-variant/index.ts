import { createHmac } from 'node:crypto';
import type { CardEntry, RosterBody, RosterVariant } from '../contract/roster.js';
import { fromBase64Url, toBase64Url } from '../crypto/encoding.js';

export const UID_HASH_BYTES = 16;

/**
 * A UID as a gate holds it and looks it up: HMAC-SHA-256 of the UID's upper-case hex under the
 * school's uid key, its first 16 bytes in base64url after a `~`. Without the key the list gives no
 * UID to clone; with 16 bytes two UIDs of one school never meet by chance.
 */
export function hashUid(key: Uint8Array, uid: string): string {
  const mac = createHmac('sha256', key).update(uid, 'latin1').digest();
  return `~${toBase64Url(mac.subarray(0, UID_HASH_BYTES))}`;
}

/** The roster variant a station type gets: what it shows decides (a venue admits by certificate, and shows nobody). */
export function rosterVariantFor(stationType: 'gate' | 'venue' | 'library' | 'lab'): RosterVariant {
  return stationType === 'library' || stationType === 'lab' ? 'desk' : 'gate';
}

/** A card as a gate gets it: what the policy needs, no name, grade or class, the UID keyed-hashed. */
function gateCard(card: CardEntry, key: Uint8Array): CardEntry {
  const { displayName: _name, grade: _grade, class: _class, credential, ...kept } = card;
  const uid = credential.uid === undefined ? undefined : hashUid(key, credential.uid);
  return {
    ...kept,
    credential:
      credential.kind === 'uid'
        ? { kind: 'uid', uid: uid as string }
        : { kind: 'edu-cpu', publicKey: credential.publicKey, ...(uid === undefined ? {} : { uid }) },
  };
}

/**
 * A body of the whole roster as one variant gets it. The desk variant is the whole roster; the gate
 * variant drops what a gate never shows and hashes each UID under `uidKey` (32 bytes), which its
 * snapshot carries in its header for the gate to hash what it reads. Policy needs no grade: schedules
 * are named on each card, not per grade.
 */
export function rosterVariantBody<T extends RosterBody>(
  body: T,
  variant: RosterVariant,
  uidKey: Uint8Array,
): T {
  if (variant === 'desk') return body;
  if (body.kind === 'snapshot')
    return { ...body, uidKey: toBase64Url(uidKey), cards: body.cards.map((card) => gateCard(card, uidKey)) };
  return {
    ...body,
    changes: body.changes.map((change) =>
      change.op === 'revoke' ? change : { ...change, card: gateCard(change.card, uidKey) },
    ),
  };
}

/** The uid key a gate variant snapshot carries, as bytes; undefined for a roster that holds UIDs in clear. */
export function uidKeyOf(snapshot: { uidKey?: string }): Uint8Array | undefined {
  return snapshot.uidKey === undefined ? undefined : fromBase64Url(snapshot.uidKey);
}
