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
  return `~${keyedDigest(key, uid, 'latin1')}`;
}

/** HMAC-SHA-256 of `text` under `key`, its first UID_HASH_BYTES in base64url. */
function keyedDigest(key: Uint8Array, text: string, encoding: 'latin1' | 'utf8'): string {
  return toBase64Url(createHmac('sha256', key).update(text, encoding).digest().subarray(0, UID_HASH_BYTES));
}

/** What starts a person id a gate holds in place of the person's (see personPseudonym). */
export const PSEUDONYM_PREFIX = 'psn-';

/**
 * A person id as a gate holds it and journals it: `psn-` and the first 16 bytes of HMAC-SHA-256 of
 * the id under the school's person key, in base64url. The same person is the same pseudonym at every
 * gate of the school (anti-passback still works); a stolen gate names nobody. The bridge, which holds
 * the key, maps it back at ingest. Never a real id: those do not take this shape by chance (16 bytes).
 */
export function personPseudonym(key: Uint8Array, personId: string): string {
  return `${PSEUDONYM_PREFIX}${keyedDigest(key, personId, 'utf8')}`;
}

/** The keys a gate variant is made with, each 32 bytes: UIDs are hashed under one, person ids under the other. */
export interface GateVariantKeys {
  uidKey: Uint8Array;
  personKey: Uint8Array;
}

/** The roster variant a station type gets: what it shows decides (a venue admits by certificate, and shows nobody). */
export function rosterVariantFor(stationType: 'gate' | 'venue' | 'library' | 'lab'): RosterVariant {
  return stationType === 'library' || stationType === 'lab' ? 'desk' : 'gate';
}

/**
 * A card as a gate gets it: what the policy needs, no name, grade or class, the UID keyed-hashed and
 * the person id a pseudonym.
 */
function gateCard(card: CardEntry, keys: GateVariantKeys): CardEntry {
  const { displayName: _name, grade: _grade, class: _class, credential, ...kept } = card;
  const uid = credential.uid === undefined ? undefined : hashUid(keys.uidKey, credential.uid);
  return {
    ...kept,
    personId: personPseudonym(keys.personKey, card.personId),
    credential:
      credential.kind === 'uid'
        ? { kind: 'uid', uid: uid as string }
        : { kind: 'edu-cpu', publicKey: credential.publicKey, ...(uid === undefined ? {} : { uid }) },
  };
}

/**
 * A body of the whole roster as one variant gets it. The desk variant is the whole roster; the gate
 * variant drops what a gate never shows, hashes each UID under the uid key, which its snapshot
 * carries in its header for the gate to hash what it reads, and names each person by a pseudonym
 * under the person key, which only the bridge holds. Policy needs no grade: schedules are named on
 * each card, not per grade.
 */
export function rosterVariantBody<T extends RosterBody>(
  body: T,
  variant: RosterVariant,
  keys: GateVariantKeys,
): T {
  if (variant === 'desk') return body;
  if (body.kind === 'snapshot')
    return {
      ...body,
      uidKey: toBase64Url(keys.uidKey),
      cards: body.cards.map((card) => gateCard(card, keys)),
    };
  return {
    ...body,
    changes: body.changes.map((change) =>
      change.op === 'revoke' ? change : { ...change, card: gateCard(change.card, keys) },
    ),
  };
}

/** The uid key a gate variant snapshot carries, as bytes; undefined for a roster that holds UIDs in clear. */
export function uidKeyOf(snapshot: { uidKey?: string }): Uint8Array | undefined {
  return snapshot.uidKey === undefined ? undefined : fromBase64Url(snapshot.uidKey);
}
