import { isUtf8 } from 'node:buffer';
import {
  type CardEntry,
  countValidSignatures,
  describeIssues,
  fromBase64Url,
  type KeyRole,
  keyIdOf,
  RosterDelta,
  RosterKeySet,
  RosterManifest,
  RosterSnapshot,
  type RosterVariant,
  type SignedEnvelope,
  SignedEnvelopeSchema,
  sha256Hex,
} from '@educard/terminal-sdk';
import { z } from 'zod';
import { checkCard } from './card-check.js';
import { reject } from './errors.js';
import type { SnapshotCards } from './roster-index.js';
import { splitSnapshot } from './snapshot-text.js';

const MAX_SNAPSHOT_CARDS = 1_000_000;

export const MAX_METADATA_BYTES = 64 * 1024;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export interface VerifiedKeySet {
  keySet: RosterKeySet;
  rosterKeys: ReadonlyMap<string, Uint8Array>;
  /** The keys of the `cardIssuers` role, by key id: empty when the key set names none. */
  cardIssuerKeys: ReadonlyMap<string, Uint8Array>;
  envelope: SignedEnvelope<RosterKeySet>;
}

export function keyMap(role: KeyRole): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  for (const { keyId, publicKey } of role.keys) {
    const raw = fromBase64Url(publicKey);
    if (keyIdOf(raw) !== keyId) reject('malformed', `key id ${keyId} does not match its public key`);
    keys.set(keyId, raw);
  }
  if (role.threshold > keys.size)
    reject('malformed', `threshold ${role.threshold} exceeds the ${keys.size} keys named`);
  return keys;
}

function checkSize(bytes: Uint8Array, what: string, cap: number): void {
  if (bytes.length > cap)
    reject('too-large', `${what} is ${bytes.length} bytes, more than the ${cap} allowed`);
}

function decodeText(bytes: Uint8Array, what: string, cap: number): string {
  checkSize(bytes, what, cap);
  try {
    // TextDecoder makes an ordinary heap string; Buffer#toString makes a large ASCII text an external
    // string, which outlived the parse by seconds and held the whole body in memory.
    return UTF8.decode(bytes);
  } catch (error) {
    return reject('malformed', `${what} is not UTF-8 (${(error as Error).message})`);
  }
}

export function parseJson(bytes: Uint8Array, what: string, cap: number): unknown {
  const text = decodeText(bytes, what, cap);
  try {
    return JSON.parse(text);
  } catch (error) {
    return reject('malformed', `${what} is not JSON (${(error as Error).message})`);
  }
}

export function parseSchema<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) reject('malformed', `${what}: ${describeIssues(result.error)}`);
  return result.data;
}

export function parseEnvelope(bytes: Uint8Array, what: string) {
  return parseSchema(SignedEnvelopeSchema, parseJson(bytes, what, MAX_METADATA_BYTES), what);
}

export function requireSignatures(
  envelope: ReturnType<typeof parseEnvelope>,
  role: { keys: ReadonlyMap<string, Uint8Array>; threshold: number },
  what: string,
): void {
  if (!envelope.signatures.some((s) => role.keys.has(s.keyId))) {
    reject(
      'unknown-key',
      `${what} is signed by ${envelope.signatures.map((s) => s.keyId).join(', ')}, none of them trusted`,
    );
  }
  const valid = countValidSignatures(envelope, role.keys);
  if (valid < role.threshold) {
    reject(
      'bad-signature',
      `${what} has ${valid} valid signature(s) from trusted keys, ${role.threshold} needed`,
    );
  }
}

/**
 * Verifies a key set the way TUF verifies root metadata: version N+1 must be signed by the threshold
 * of the root keys of version N (or of the pinned anchor, for version 1) and by the threshold of its
 * own root keys, so neither an old nor a new root key alone can rotate trust.
 */
export function verifyKeySet(
  bytes: Uint8Array,
  trustedRoot: KeyRole,
  trustedVersion: number,
): VerifiedKeySet {
  const envelope = parseEnvelope(bytes, 'key set');
  const keySet = parseSchema(RosterKeySet, envelope.signed, 'key set');
  if (keySet.version !== trustedVersion + 1) {
    reject(
      'keyset-version',
      `key set version ${keySet.version} does not follow ${trustedVersion}: only N to N+1`,
    );
  }
  requireSignatures(
    envelope,
    { keys: keyMap(trustedRoot), threshold: trustedRoot.threshold },
    'key set (old root)',
  );
  requireSignatures(
    envelope,
    { keys: keyMap(keySet.root), threshold: keySet.root.threshold },
    'key set (new root)',
  );
  return {
    keySet,
    rosterKeys: keyMap(keySet.roster),
    cardIssuerKeys: keySet.cardIssuers ? keyMap(keySet.cardIssuers) : new Map(),
    envelope: { signed: keySet, signatures: envelope.signatures },
  };
}

/** A document the roster keys of a key set sign (a catalogue, a hotlist, a venue plan): signatures, then schema. */
export function verifyRosterSigned<T>(
  bytes: Uint8Array,
  keys: VerifiedKeySet,
  schema: z.ZodType<T>,
  what: string,
): T {
  const envelope = parseEnvelope(bytes, what);
  requireSignatures(envelope, { keys: keys.rosterKeys, threshold: keys.keySet.roster.threshold }, what);
  return parseSchema(schema, envelope.signed, what);
}

export interface ManifestScope {
  school: string;
  device: string;
  /**
   * The roster variant of this device's station type (rosterVariantFor): a manifest of another
   * variant is refused. A manifest naming none (a bridge before variants) is taken.
   */
  variant?: RosterVariant;
}

/** Signature, schema and scope of a manifest: what holds whatever roster is in force. */
export function verifyManifest(
  bytes: Uint8Array,
  keys: VerifiedKeySet,
  scope: ManifestScope,
): RosterManifest {
  const envelope = parseEnvelope(bytes, 'manifest');
  requireSignatures(envelope, { keys: keys.rosterKeys, threshold: keys.keySet.roster.threshold }, 'manifest');
  const manifest = parseSchema(RosterManifest, envelope.signed, 'manifest');
  if (manifest.school !== scope.school) {
    reject('wrong-school', `manifest is for school ${manifest.school}, this device is in ${scope.school}`);
  }
  if (manifest.devices && !manifest.devices.includes(scope.device)) {
    reject('wrong-device', `manifest names ${manifest.devices.length} device(s), not ${scope.device}`);
  }
  if (manifest.variant && scope.variant && manifest.variant !== scope.variant) {
    reject(
      'wrong-variant',
      `manifest is the ${manifest.variant} roster, this device's station takes the ${scope.variant} roster`,
    );
  }
  if (manifest.body.kind === 'delta' && manifest.body.fromVersion === undefined) {
    reject('malformed', 'a delta manifest must name the version it follows');
  }
  return manifest;
}

const SnapshotFrame = RosterSnapshot.omit({ cards: true }).extend({ cards: z.tuple([]) });

/** A body that verified: a delta whole, a snapshot with its cards checked one at a time as they are read. */
export type VerifiedBody = SnapshotCards | RosterDelta;

/**
 * A snapshot holds up to a million cards: each is parsed and checked as the roster index takes it,
 * so that the parsed cards are never all in memory at once. A card that fails its check rejects the
 * body once the cards have all been read, with the first ten problems.
 */
function parseSnapshot(bytes: Uint8Array, cap: number): SnapshotCards {
  checkSize(bytes, 'roster body', cap);
  if (!isUtf8(bytes)) reject('malformed', 'roster body is not UTF-8');
  const { frame, count, cards } = splitSnapshot(bytes);
  if (count > MAX_SNAPSHOT_CARDS) reject('malformed', `roster body: more than ${MAX_SNAPSHOT_CARDS} cards`);
  const header = parseSchema(SnapshotFrame, frame, 'roster body');
  function* checked(): Generator<CardEntry> {
    const problems: string[] = [];
    let i = 0;
    for (const value of cards) {
      const card = checkCard(value);
      if (!('problem' in card)) yield card;
      else if (problems.length < 10) problems.push(`cards.${i}: ${card.problem}`);
      i++;
    }
    if (problems.length) reject('malformed', `roster body: ${problems.join('; ')}`);
  }
  return { ...header, cards: checked(), cardCount: count };
}

/** A body's length and SHA-256 against what its manifest says: checked before a byte of it is parsed. */
export function checkBodyBytes(
  expected: { length: number; sha256: string },
  bytes: Uint8Array,
  what: string,
): void {
  if (bytes.length !== expected.length)
    reject('length-mismatch', `${what} is ${bytes.length} bytes, the manifest says ${expected.length}`);
  if (sha256Hex(bytes) !== expected.sha256)
    reject('digest-mismatch', `${what} SHA-256 differs from the manifest`);
}

/** Checks the body against the manifest's length and digest before parsing a byte of it. */
export function verifyBody(manifest: RosterManifest, bytes: Uint8Array, maxBodyBytes: number): VerifiedBody {
  if (bytes.length !== manifest.body.length) {
    reject('length-mismatch', `body is ${bytes.length} bytes, the manifest says ${manifest.body.length}`);
  }
  if (sha256Hex(bytes) !== manifest.body.sha256)
    reject('digest-mismatch', 'body SHA-256 differs from the manifest');
  const body =
    manifest.body.kind === 'snapshot'
      ? parseSnapshot(bytes, maxBodyBytes)
      : parseSchema(RosterDelta, parseJson(bytes, 'roster body', maxBodyBytes), 'roster body');
  const fromVersion = body.kind === 'delta' ? body.fromVersion : undefined;
  if (
    body.kind !== manifest.body.kind ||
    body.version !== manifest.version ||
    body.school !== manifest.school ||
    fromVersion !== manifest.body.fromVersion
  ) {
    reject('inconsistent', 'body kind, version, school or base version differ from the manifest');
  }
  return body;
}
