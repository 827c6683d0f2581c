import {
  CardEntry,
  countValidSignatures,
  describeIssues,
  fromBase64Url,
  type KeyRole,
  keyIdOf,
  RosterBody,
  RosterKeySet,
  RosterManifest,
  RosterSnapshot,
  type SignedEnvelope,
  SignedEnvelopeSchema,
  sha256Hex,
} from '@educard/terminal-sdk';
import { z } from 'zod';
import { reject } from './errors.js';

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

export function parseJson(bytes: Uint8Array, what: string, cap: number): unknown {
  if (bytes.length > cap)
    reject('too-large', `${what} is ${bytes.length} bytes, more than the ${cap} allowed`);
  try {
    // TextDecoder makes an ordinary heap string; Buffer#toString makes a large ASCII text an external
    // string, which outlived the parse by seconds and held the whole body in memory.
    return JSON.parse(UTF8.decode(bytes));
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
  if (manifest.body.kind === 'delta' && manifest.body.fromVersion === undefined) {
    reject('malformed', 'a delta manifest must name the version it follows');
  }
  return manifest;
}

const SnapshotFrame = RosterSnapshot.extend({ cards: z.array(z.unknown()).max(1_000_000) });

/**
 * A snapshot holds up to a million cards: each is checked where it lies in the parsed array, with its
 * repeated strings shared, so that the whole roster never exists twice in memory.
 */
function parseSnapshot(raw: unknown): RosterSnapshot {
  const frame = parseSchema(SnapshotFrame, raw, 'roster body');
  const cards = (raw as { cards: unknown[] }).cards;
  const intern = new Map<string, string>();
  const share = (text: string) => {
    const held = intern.get(text);
    if (held !== undefined) return held;
    intern.set(text, text);
    return text;
  };
  const problems: string[] = [];
  for (let i = 0; i < cards.length; i++) {
    const result = CardEntry.safeParse(cards[i]);
    if (!result.success) {
      if (problems.length < 10) problems.push(`cards.${i}: ${describeIssues(result.error)}`);
      continue;
    }
    // The original object is kept and zod's copy dropped at once: the copy dies young, where it is
    // cheap to collect, instead of leaving the old generation full of holes.
    const card = cards[i] as CardEntry;
    card.school = share(card.school);
    card.validFrom = share(card.validFrom);
    card.validUntil = share(card.validUntil);
    if (card.grade !== undefined) card.grade = share(card.grade);
    if (card.class !== undefined) card.class = share(card.class);
    card.zones = card.zones.map(share);
    card.schedules = card.schedules.map(share);
  }
  if (problems.length) reject('malformed', `roster body: ${problems.join('; ')}`);
  return { ...frame, cards: cards as CardEntry[] };
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
export function verifyBody(manifest: RosterManifest, bytes: Uint8Array, maxBodyBytes: number): RosterBody {
  if (bytes.length !== manifest.body.length) {
    reject('length-mismatch', `body is ${bytes.length} bytes, the manifest says ${manifest.body.length}`);
  }
  if (sha256Hex(bytes) !== manifest.body.sha256)
    reject('digest-mismatch', 'body SHA-256 differs from the manifest');
  const raw = parseJson(bytes, 'roster body', maxBodyBytes);
  const body =
    (raw as { kind?: unknown })?.kind === 'snapshot'
      ? parseSnapshot(raw)
      : parseSchema(RosterBody, raw, 'roster body');
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
