import { canonicalBytes } from '../canonical/index.js';
import { type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { keyIdOf, sha256Hex, toBase64Url } from '../crypto/encoding.js';
import { SPEC_VERSION } from './common.js';
import type { KeyRole, RosterBody, RosterKeySet, RosterManifest, RosterVariant } from './roster.js';
import { signDocument } from './signed.js';

/** The key role a set of key pairs forms. */
export function keyRole(pairs: Ed25519KeyPair[], threshold = 1): KeyRole {
  return {
    keys: pairs.map((pair) => ({ keyId: keyIdOf(pair.publicKey), publicKey: toBase64Url(pair.publicKey) })),
    threshold,
  };
}

export interface KeySetInput {
  version: number;
  issuedAt?: string;
  root: KeyRole;
  roster: KeyRole;
  /** The card issuers whose keys sign card certificates, when the key set names them. */
  cardIssuers?: KeyRole;
  /** The keys that sign device commands, when the key set names them. */
  commands?: KeyRole;
  /** The keys that sign gateway releases, when the key set names them. */
  releases?: KeyRole;
  /** The root keys that sign: the previous version's and, when the root rotates, the new ones too. */
  signers: Ed25519KeyPair[];
}

export function issueKeySet(input: KeySetInput): Uint8Array {
  const keySet: RosterKeySet = {
    type: 'roster-keyset',
    spec: SPEC_VERSION,
    version: input.version,
    issuedAt: input.issuedAt ?? new Date().toISOString(),
    root: input.root,
    roster: input.roster,
    ...(input.cardIssuers ? { cardIssuers: input.cardIssuers } : {}),
    ...(input.commands ? { commands: input.commands } : {}),
    ...(input.releases ? { releases: input.releases } : {}),
  };
  return jsonBytes(signDocument(keySet, input.signers, ed25519));
}

export interface IssuedRoster {
  manifest: Uint8Array;
  body: Uint8Array;
}

export interface ManifestInput {
  expiresAt: string;
  keySetVersion: number;
  signers: Ed25519KeyPair[];
  devices?: string[];
  /** The station type's series this body belongs to (see RosterVariant); absent: the whole roster. */
  variant?: RosterVariant;
}

/**
 * Signs a roster body the one way the contract allows: the body is serialised once, and only the
 * small manifest carrying its SHA-256 and length is signed.
 */
export function issueRoster(body: RosterBody, input: ManifestInput): IssuedRoster {
  const bodyBytes = canonicalBytes(body);
  const manifest: RosterManifest = {
    type: 'roster-manifest',
    spec: SPEC_VERSION,
    school: body.school,
    ...(input.devices ? { devices: input.devices } : {}),
    ...(input.variant ? { variant: input.variant } : {}),
    version: body.version,
    issuedAt: body.issuedAt,
    expiresAt: input.expiresAt,
    keySetVersion: input.keySetVersion,
    body: {
      kind: body.kind,
      ...(body.kind === 'delta' ? { fromVersion: body.fromVersion } : {}),
      sha256: sha256Hex(bodyBytes),
      length: bodyBytes.length,
    },
  };
  return { manifest: jsonBytes(signDocument(manifest, input.signers, ed25519)), body: bodyBytes };
}

function jsonBytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/**
 * What a technician reads out and types to pin a school's root keys: the SHA-256 of the canonical JSON
 * of `{keys: [{keyId, publicKey}] sorted by keyId, threshold}`, its first 32 hex digits (128 bits) in
 * eight groups of four joined by "-". It covers every root key and the threshold, and not the order
 * the keys are listed in.
 */
export function rootFingerprint(role: KeyRole): string {
  const keys = role.keys
    .map(({ keyId, publicKey }) => ({ keyId, publicKey }))
    .sort((a, b) => (a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0));
  const hex = sha256Hex(canonicalBytes({ keys, threshold: role.threshold })).slice(0, 32);
  return (hex.match(/.{4}/g) as string[]).join('-');
}

/** Compares fingerprints as people write them: case, spaces, dashes and colons do not count. */
export function sameFingerprint(a: string, b: string): boolean {
  const plain = (text: string) => text.toLowerCase().replace(/[\s:-]/g, '');
  return plain(a) === plain(b) && plain(a).length === 32;
}
