import { z } from 'zod';
import type { Ed25519KeyPair } from '../crypto/ed25519.js';
import { fromBase64Url } from '../crypto/encoding.js';
import { describeIssues, Identifier, IsoTime, Sha256Hex, SPEC_VERSION } from './common.js';

// For the update guard, which loads this subpath and not the whole contract: its config errors read as the gateway's.
export { describeIssues };

import { CardStatus, type RosterKeySet } from './roster.js';
import { countValidSignatures, type SignedEnvelope, SignedEnvelopeSchema, signDocument } from './signed.js';

/** A gateway release's version: MAJOR.MINOR.PATCH, compared part by part (no pre-releases). */
export const ReleaseVersion = z
  .string()
  .regex(/^\d{1,6}\.\d{1,6}\.\d{1,6}$/, 'MAJOR.MINOR.PATCH, e.g. 0.2.0');

/** Negative when `a` is older than `b`, zero when they are the same, positive when `a` is newer. */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map(Number);
  const right = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const diff = (left[i] ?? 0) - (right[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** The CPU architectures a release is built for: Node's `process.arch`, with 32-bit ARM named `armhf`. */
export const RELEASE_ARCHES = ['x64', 'arm64', 'armhf'] as const;
export const ReleaseArch = z.enum(RELEASE_ARCHES);
export type ReleaseArch = z.infer<typeof ReleaseArch>;

/** The architecture this process runs on, as releases name it (undefined for one we build none for). */
export function releaseArchOf(arch: string = process.arch): ReleaseArch | undefined {
  const named = arch === 'arm' ? 'armhf' : arch;
  return (RELEASE_ARCHES as readonly string[]).includes(named) ? (named as ReleaseArch) : undefined;
}

/** A path inside a release: relative, forward slashes, no `..`, no empty or dot segments. */
export const ReleasePath = z
  .string()
  .min(1)
  .max(512)
  .refine(
    (path) =>
      !path.startsWith('/') && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..'),
    'a relative path without "..", "." or empty segments',
  );

/**
 * The versions of each on-disk format a release reads and the one it writes (journal segments, the
 * stored roster, the library ledger, the device's own state files). A release B is a one-way step from
 * A when B writes a version of some format that A does not read: A could not run on B's data again.
 */
export const DataFormats = z.record(
  Identifier,
  z.object({
    reads: z.array(z.number().int().positive()).min(1).max(16),
    writes: z.number().int().positive(),
  }),
);
export type DataFormats = z.infer<typeof DataFormats>;

/** The formats `to` writes that `from` cannot read: empty when a device on `to` can go back to `from`. */
export function oneWayFormats(from: DataFormats, to: DataFormats): string[] {
  return Object.entries(to)
    .filter(([name, format]) => !(from[name]?.reads ?? [format.writes]).includes(format.writes))
    .map(([name, format]) => `${name} ${format.writes}`);
}

/**
 * One tap of the self-test a new release decides before it is committed. Time-free, so a release signed
 * today still tests correctly years from now: the gateway makes the card from this description and its
 * own clock (valid around now, or expired, or not yet valid; in its station's zone or elsewhere).
 */
export const SelfTestTap = z.object({
  name: z.string().min(1).max(64),
  card: z.object({
    /** False for a card the roster does not hold at all. */
    known: z.boolean().default(true),
    status: CardStatus.default('active'),
    validity: z.enum(['current', 'expired', 'not-yet-valid']).default('current'),
    zone: z.enum(['station', 'elsewhere']).default('station'),
  }),
  expect: z.object({ decision: z.enum(['grant', 'deny']), reason: z.string().min(1).max(32) }),
});
export type SelfTestTap = z.infer<typeof SelfTestTap>;

export const ReleaseFile = z.object({
  path: ReleasePath,
  sha256: Sha256Hex,
  size: z.number().int().nonnegative(),
  /** Whether the file is executable (the service's and the command's entry points). */
  executable: z.boolean().default(false),
});
export type ReleaseFile = z.infer<typeof ReleaseFile>;

/** A symbolic link inside the release (npm's links to the workspace packages), relative to its folder. */
export const ReleaseLink = z.object({ path: ReleasePath, target: z.string().min(1).max(512) });
export type ReleaseLink = z.infer<typeof ReleaseLink>;

/**
 * The signed description of a gateway release, after TUF's targets: every file by SHA-256 and size,
 * the version (strictly increasing on a device: no rollback), an expiry (a frozen release list is
 * noticed), the architecture and Node it needs, the data formats it reads and writes, native modules
 * that must be built on the device, and the self-test taps it must decide before it is committed.
 * Signed by the key set's `releases` role only: neither the roster key nor the bridge can sign one.
 */
export const ReleaseManifest = z.object({
  type: z.literal('gateway-release'),
  spec: z.literal(SPEC_VERSION),
  version: ReleaseVersion,
  arch: ReleaseArch,
  /** The oldest Node.js the release runs on, MAJOR.MINOR.PATCH. */
  node: ReleaseVersion,
  issuedAt: IsoTime,
  expiresAt: IsoTime,
  keySetVersion: z.number().int().positive(),
  /** The service's entry point, relative to the release folder. */
  entry: ReleasePath,
  files: z.array(ReleaseFile).min(1).max(200_000),
  links: z.array(ReleaseLink).max(10_000).default([]),
  /** Packages (their folders) whose native part is not in the release and is built on the device. */
  rebuild: z.array(ReleasePath).max(64).default([]),
  formats: DataFormats,
  selfTest: z.array(SelfTestTap).min(1).max(64),
});
export type ReleaseManifest = z.infer<typeof ReleaseManifest>;

/** The self-test a release carries unless its builder says otherwise: the rules a gate must keep. */
export const DEFAULT_SELF_TEST: SelfTestTap[] = [
  { name: 'valid card', card: {}, expect: { decision: 'grant', reason: 'ok' } },
  { name: 'lost card', card: { status: 'lost' }, expect: { decision: 'deny', reason: 'lost' } },
  { name: 'expired card', card: { validity: 'expired' }, expect: { decision: 'deny', reason: 'expired' } },
  {
    name: 'card for another zone',
    card: { zone: 'elsewhere' },
    expect: { decision: 'deny', reason: 'not-in-zone' },
  },
  { name: 'unknown card', card: { known: false }, expect: { decision: 'deny', reason: 'unknown-card' } },
].map((tap) => SelfTestTap.parse(tap));

/** A span of time in which no device of a school may switch releases (its arrival or dismissal). */
export const QuietWindow = z.object({
  from: IsoTime,
  to: IsoTime,
  why: z.enum(['arrival', 'dismissal', 'school-hours']),
});
export type QuietWindow = z.infer<typeof QuietWindow>;

/** The largest signed release manifest a device fetches: a manifest of 200,000 files, with room to spare. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/**
 * What an offer says of a release's signed manifest, instead of carrying it (about a megabyte, which
 * a broker would copy and keep for every device): its version, the SHA-256 and size of the signed
 * envelope's bytes, and where it is fetched (`from` plus the SHA-256, under the bridge's HTTP base).
 * The device checks the bytes against the hash and the signatures against the release keys, as if
 * the manifest had come in the offer; it keeps them by hash, so an offer repeated costs nothing.
 */
export const ManifestRef = z.object({
  version: ReleaseVersion,
  sha256: Sha256Hex,
  size: z.number().int().positive().max(MAX_MANIFEST_BYTES),
  from: z.string().min(1).max(256),
});
export type ManifestRef = z.infer<typeof ManifestRef>;

/**
 * The bridge's word to one device (retained on its `release` topic): run the release whose signed
 * manifest `manifest` names, fetching its files from `files` (relative to the bridge's HTTP base),
 * switching only outside the quiet windows listed (they cover the days ahead; the device waits for a
 * fresh offer when they run out). A `withdraw` stops an update of that rollout not yet switched.
 */
export const ReleaseOffer = z.object({
  v: z.literal(SPEC_VERSION),
  kind: z.literal('offer'),
  rollout: Identifier,
  manifest: ManifestRef,
  files: z.string().min(1).max(256),
  allowOneWay: z.boolean().default(false),
  quiet: z.array(QuietWindow).max(256),
  /** Quiet windows are known up to here; past it the device waits for the next offer. */
  quietUntil: IsoTime,
  at: IsoTime,
});
export type ReleaseOffer = z.infer<typeof ReleaseOffer>;
export const UpdateOffer = z.discriminatedUnion('kind', [
  ReleaseOffer,
  z.object({ v: z.literal(SPEC_VERSION), kind: z.literal('withdraw'), rollout: Identifier, at: IsoTime }),
]);
export type UpdateOffer = z.infer<typeof UpdateOffer>;

export const UPDATE_STATES = [
  'downloading',
  'waiting',
  'switching',
  'checking',
  'committed',
  'rolled-back',
  'refused',
] as const;
export type UpdateStateName = (typeof UPDATE_STATES)[number];

/** A device's progress with an offered release, published on every change and again on every connect. */
export const UpdateProgress = z.object({
  v: z.literal(SPEC_VERSION),
  device: Identifier,
  rollout: Identifier,
  version: ReleaseVersion,
  /** The release the device runs as it reports. */
  running: z.string().max(64),
  state: z.enum(UPDATE_STATES),
  /** Why it waits, why it refused, why it rolled back. */
  detail: z.string().max(512).optional(),
  bytes: z
    .object({ fetched: z.number().int().nonnegative(), total: z.number().int().nonnegative() })
    .optional(),
  at: IsoTime,
});
export type UpdateProgress = z.infer<typeof UpdateProgress>;

/** Signs a release manifest with the release keys: what `npm run release` does, offline. */
export function signRelease(
  manifest: ReleaseManifest,
  signers: Ed25519KeyPair[],
): SignedEnvelope<ReleaseManifest> {
  return signDocument(manifest, signers);
}

export type ReleaseRefusal =
  | 'malformed'
  | 'no-release-keys'
  | 'unknown-key'
  | 'bad-signature'
  | 'wrong-arch'
  | 'node-too-old'
  | 'expired'
  | 'rollback'
  | 'one-way'
  | 'tampered';

/** A release refused, and why; nothing was switched. */
export class ReleaseRefused extends Error {
  constructor(
    readonly code: ReleaseRefusal,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ReleaseRefused';
  }
}

/**
 * Checks a signed release manifest against a key set: the threshold of its `releases` keys must have
 * signed it (a signature by any other role's key, the roster's included, counts for nothing), and it
 * must be a manifest. Throws {@link ReleaseRefused}.
 */
export function verifyReleaseSignatures(envelope: unknown, keySet: RosterKeySet): ReleaseManifest {
  const parsed = SignedEnvelopeSchema.safeParse(envelope);
  if (!parsed.success)
    throw new ReleaseRefused('malformed', `not a signed document: ${describeIssues(parsed.error)}`);
  const role = keySet.releases;
  if (!role)
    throw new ReleaseRefused(
      'no-release-keys',
      `key set ${keySet.version} names no release keys: no release can be trusted until the root adds them`,
    );
  const trusted = new Map(role.keys.map((k) => [k.keyId, fromBase64Url(k.publicKey)]));
  const signers = parsed.data.signatures.map((s) => s.keyId);
  if (!signers.some((id) => trusted.has(id))) {
    const roster = new Set(keySet.roster.keys.map((k) => k.keyId));
    throw new ReleaseRefused(
      'unknown-key',
      signers.some((id) => roster.has(id))
        ? 'signed by the roster key, which may not sign software'
        : `signed by ${signers.join(', ')}, none of them a release key of key set ${keySet.version}`,
    );
  }
  const valid = countValidSignatures(parsed.data, trusted);
  if (valid < role.threshold)
    throw new ReleaseRefused(
      'bad-signature',
      `${valid} valid signature(s) from release keys, ${role.threshold} needed`,
    );
  const manifest = ReleaseManifest.safeParse(parsed.data.signed);
  if (!manifest.success)
    throw new ReleaseRefused('malformed', `not a release manifest: ${describeIssues(manifest.error)}`);
  return manifest.data;
}
