import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  KeyRole,
  type RosterDelta,
  type RosterKeySet,
  type RosterManifest,
  type RosterVariant,
  SerialQueue,
} from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import { releaseMemory } from '../memory/index.js';
import { quarantineFile, writeFileDurable } from '../storage/index.js';
import { isStoredFileDamage, RosterRejected, reject } from './errors.js';
import { RosterIndex, type RosterView } from './roster-index.js';
import {
  type ManifestScope,
  type VerifiedKeySet,
  verifyBody,
  verifyKeySet,
  verifyManifest,
} from './verify.js';

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface RosterStoreOptions extends ManifestScope {
  dir: string;
  logger: Logger;
  /** The time the roster may trust: the wall clock, never earlier than the persisted time floor. */
  now: () => number;
  maxBodyBytes?: number;
  /**
   * Load without moving damaged files to quarantine: how `educard roster verify` and `doctor` look at
   * the files, which must stay where the running gateway expects them until it starts again.
   */
  readOnly?: boolean;
}

export type AcceptResult =
  | { status: 'applied'; version: number; kind: 'snapshot' | 'delta' }
  | { status: 'unchanged'; version: number };

/** A body, or a way to fetch it once the manifest has been found worth it. */
export type BodySource = Uint8Array | ((manifest: RosterManifest) => Promise<Uint8Array>);

export const ANCHOR = 'anchor.json';
export const pad = (version: number) => String(version).padStart(10, '0');
export const fileName = (kind: string, version: number, part: 'manifest' | 'body') =>
  `${kind}-${pad(version)}.${part}.json`;
const VERSIONED = /^(snapshot|delta|keyset)-(\d{10})\.(manifest|body|json)(?:\.json)?$/;

/**
 * What was wrong with the stored roster at start: the files quarantined and why, the newest version
 * that was on disk, and the one in force instead (0: none).
 */
export interface RosterDamage {
  quarantined: string[];
  reasons: string[];
  lostVersion: number;
  usedVersion: number;
}

export interface Listing {
  keysets: number[];
  snapshots: number[];
  deltas: number[];
}

/** The versioned files of a roster directory: key sets, and the snapshots and deltas that have a manifest. */
export async function listDir(dir: string): Promise<Listing> {
  const listing: Listing = { keysets: [], snapshots: [], deltas: [] };
  for (const name of await readdir(dir)) {
    const match = VERSIONED.exec(name);
    if (!match) continue;
    const version = Number(match[2]);
    if (match[1] === 'keyset') listing.keysets.push(version);
    else if (match[3] === 'manifest')
      (match[1] === 'snapshot' ? listing.snapshots : listing.deltas).push(version);
  }
  for (const list of [listing.keysets, listing.snapshots, listing.deltas]) list.sort((a, b) => a - b);
  return listing;
}

/**
 * The verified roster, kept on disk as the signed files it came in and in memory as an index.
 * Every change is verified in full before it is written, written before it is applied, and applied
 * all at once; whatever is refused leaves the roster in force as it was.
 */
export class RosterStore {
  private anchor: KeyRole | undefined;
  private keySets: VerifiedKeySet[] = [];
  private index: RosterIndex | undefined;
  private readonly queue = new SerialQueue();
  private readonly maxBodyBytes: number;
  private damageFound: RosterDamage | undefined;

  private constructor(private readonly options: RosterStoreOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  }

  /** Pins the root keys a device trusts; done once, at provisioning. */
  static async writeAnchor(dir: string, root: KeyRole): Promise<void> {
    await writeFileDurable(join(dir, ANCHOR), JSON.stringify(KeyRole.parse(root), null, 2));
  }

  static async open(options: RosterStoreOptions): Promise<RosterStore> {
    const store = new RosterStore(options);
    await store.load();
    // Here, not inside load(): only once its frames are gone is the parsed body garbage.
    await releaseMemory();
    return store;
  }

  get view(): RosterView | undefined {
    return this.index;
  }

  /** The roster variant this device's station takes; undefined: any (a tool reading the files). */
  get variant(): RosterVariant | undefined {
    return this.options.variant;
  }

  /** The key sets this device trusts, oldest first: the last is in force (a venue reads its card issuers). */
  get keySetChain(): readonly VerifiedKeySet[] {
    return this.keySets;
  }

  get keySetVersion(): number {
    return this.keySets.at(-1)?.keySet.version ?? 0;
  }

  /** The newest key set this device trusts: its roles say whose signatures count (`commands` for commands, `releases` for gateway software). */
  get keySet(): RosterKeySet | undefined {
    return this.keySets.at(-1)?.keySet;
  }

  get provisioned(): boolean {
    return this.anchor !== undefined;
  }

  /** Damage found in the stored files at start, if any (see RosterDamage). */
  get damage(): RosterDamage | undefined {
    return this.damageFound;
  }

  /** Whether to ask the bridge for a snapshot now: damage put an older roster, or none, in force. */
  get wantsFresh(): boolean {
    const damage = this.damageFound;
    return damage !== undefined && (this.index?.version ?? 0) < damage.lostVersion;
  }

  /** Accepts the next key set (rotation of roster or root keys). */
  acceptKeySet(bytes: Uint8Array): Promise<number> {
    return this.queue.run(async () => {
      const verified = verifyKeySet(bytes, this.trustedRoot(), this.keySetVersion);
      await writeFileDurable(join(this.options.dir, `keyset-${pad(verified.keySet.version)}.json`), bytes);
      this.keySets.push(verified);
      this.options.logger.info({ version: verified.keySet.version }, 'roster key set accepted');
      return verified.keySet.version;
    });
  }

  /** Verifies a manifest and its body and, when they are the next roster, makes them the one in force. */
  accept(manifestBytes: Uint8Array, body: BodySource): Promise<AcceptResult> {
    return this.queue.run(async () => {
      const result = await this.acceptNow(manifestBytes, body).catch((error: unknown) => {
        if (error instanceof RosterRejected) {
          this.options.logger.warn({ code: error.code, reason: error.message }, 'roster update rejected');
        }
        throw error;
      });
      if (result.status === 'applied') {
        this.options.logger.info({ ...result, cards: this.index?.size }, 'roster applied');
        if (result.kind === 'snapshot') await releaseMemory();
      }
      return result;
    });
  }

  /** Checks a manifest's signature and scope only: what the uplink asks before it fetches a body. */
  inspect(manifestBytes: Uint8Array): RosterManifest {
    return verifyManifest(manifestBytes, this.currentKeys(), this.options);
  }

  private async acceptNow(manifestBytes: Uint8Array, body: BodySource): Promise<AcceptResult> {
    const manifest = this.inspect(manifestBytes);
    const held = this.index?.version ?? 0;
    if (manifest.version === held) return { status: 'unchanged', version: held };
    if (manifest.version < held)
      reject('rollback', `version ${manifest.version} is older than ${held}, in force`);
    const now = this.options.now();
    if (Date.parse(manifest.expiresAt) <= now) reject('expired', `manifest expired at ${manifest.expiresAt}`);
    if (manifest.body.kind === 'delta' && manifest.body.fromVersion !== held) {
      reject(
        'out-of-order',
        `delta follows version ${manifest.body.fromVersion}, version ${held} is in force`,
      );
    }
    if (manifest.body.length > this.maxBodyBytes) {
      reject('too-large', `body of ${manifest.body.length} bytes is over the ${this.maxBodyBytes} allowed`);
    }
    const bodyBytes = typeof body === 'function' ? await body(manifest) : body;
    const parsed = verifyBody(manifest, bodyBytes, this.maxBodyBytes);
    const kind = parsed.kind;
    if (parsed.kind === 'snapshot') {
      const index = new RosterIndex(parsed, manifest);
      await this.persist(kind, manifest.version, manifestBytes, bodyBytes);
      this.index = index;
      await this.removeOlderThan(manifest.version);
    } else {
      const index = this.index;
      if (!index) return reject('out-of-order', 'a delta needs a snapshot first');
      index.check(parsed);
      await this.persist(kind, manifest.version, manifestBytes, bodyBytes);
      index.apply(parsed, manifest);
    }
    return { status: 'applied', version: manifest.version, kind };
  }

  private trustedRoot(): KeyRole {
    const root = this.keySets.at(-1)?.keySet.root ?? this.anchor;
    if (!root) return reject('unknown-key', 'no trust anchor: provision the device with its root keys first');
    return root;
  }

  private currentKeys(): VerifiedKeySet {
    const keys = this.keySets.at(-1);
    if (!keys) return reject('unknown-key', 'no roster key set accepted yet');
    return keys;
  }

  /** The body first, then the manifest that names it: a manifest on disk always has its body. */
  private async persist(
    kind: string,
    version: number,
    manifest: Uint8Array,
    body: Uint8Array,
  ): Promise<void> {
    await writeFileDurable(join(this.options.dir, fileName(kind, version, 'body')), body);
    await writeFileDurable(join(this.options.dir, fileName(kind, version, 'manifest')), manifest);
  }

  /**
   * Keeps the previous snapshot and the deltas after it beside the new one, so that a damaged newest
   * file leaves a verifiable roster to fall back to; removes what is older.
   */
  private async removeOlderThan(version: number): Promise<void> {
    const listing = await listDir(this.options.dir);
    const older = listing.snapshots.filter((v) => v < version);
    const previous = older.at(-1) ?? version;
    const stale = [
      ...older.filter((v) => v < previous).map((v) => ['snapshot', v] as const),
      ...listing.deltas.filter((v) => v <= previous).map((v) => ['delta', v] as const),
    ];
    for (const [kind, v] of stale) {
      // The manifest goes first, so a crash between the two leaves an orphan body, never a bodiless manifest.
      await rm(join(this.options.dir, fileName(kind, v, 'manifest')), { force: true });
      await rm(join(this.options.dir, fileName(kind, v, 'body')), { force: true });
    }
  }

  /**
   * Loads the newest roster that verifies: the newest good snapshot and the deltas after it, in
   * order. A file that fails its digest or signature (damage at rest) is moved to `quarantine/` and
   * an older version is used; a file that only needs a key not trusted yet is left alone.
   */
  private async load(): Promise<void> {
    const { dir, logger } = this.options;
    const anchorText = await readFile(join(dir, ANCHOR), 'utf8').catch(() => undefined);
    if (anchorText === undefined) {
      logger.warn({ dir }, 'no roster trust anchor: the device is not provisioned');
      return;
    }
    try {
      this.anchor = KeyRole.parse(JSON.parse(anchorText));
    } catch (error) {
      // Pinned at provisioning: only a technician can pin it again (educard doctor says how).
      logger.error(
        { reason: (error as Error).message },
        'roster trust anchor is damaged: no roster can be verified',
      );
      return;
    }
    const listing = await listDir(dir);
    const damage: RosterDamage = {
      quarantined: [],
      reasons: [],
      lostVersion: Math.max(0, ...listing.snapshots, ...listing.deltas),
      usedVersion: 0,
    };
    const quarantine = async (files: string[], reason: string) => {
      damage.reasons.push(reason);
      if (this.options.readOnly) return;
      for (const file of files) {
        const moved = await quarantineFile(join(dir, file), reason).catch(() => undefined);
        if (moved) damage.quarantined.push(moved);
      }
    };
    for (const version of listing.keysets) {
      const file = `keyset-${pad(version)}.json`;
      try {
        this.keySets.push(
          verifyKeySet(await readFile(join(dir, file)), this.trustedRoot(), this.keySetVersion),
        );
      } catch (error) {
        const reason = `key set ${version} does not verify (${(error as Error).message}); later ones wait for it`;
        logger.error({ version, reason }, 'stored key set does not verify; ignoring it and later ones');
        if (isStoredFileDamage(error)) await quarantine([file], reason);
        break;
      }
    }
    for (const version of [...listing.snapshots].reverse()) {
      const loaded = await this.loadVerified('snapshot', version).catch(async (error: Error) => {
        logger.error({ version, reason: error.message }, 'stored roster snapshot does not verify');
        if (isStoredFileDamage(error)) {
          await quarantine(
            [fileName('snapshot', version, 'manifest'), fileName('snapshot', version, 'body')],
            `snapshot ${version}: ${error.message}`,
          );
        }
        return undefined;
      });
      if (loaded?.body.kind !== 'snapshot') continue;
      this.index = new RosterIndex(loaded.body, loaded.manifest);
      break;
    }
    const index = this.index;
    for (const version of listing.deltas.filter((v) => index && v > index.version)) {
      try {
        const { body, manifest } = await this.loadVerified('delta', version);
        (index as RosterIndex).apply(body as RosterDelta, manifest);
      } catch (error) {
        logger.error(
          { version, reason: (error as Error).message },
          'stored roster delta not applied; later ones skipped',
        );
        if (isStoredFileDamage(error)) {
          await quarantine(
            [fileName('delta', version, 'manifest'), fileName('delta', version, 'body')],
            `delta ${version}: ${(error as Error).message}`,
          );
        }
        break;
      }
    }
    damage.usedVersion = this.index?.version ?? 0;
    if (damage.quarantined.length > 0) {
      this.damageFound = damage;
      logger.error(
        { ...damage, quarantined: damage.quarantined.length },
        damage.usedVersion
          ? `roster files damaged: version ${damage.usedVersion} in force until a fresh snapshot arrives`
          : 'roster files damaged and no older version verifies: no roster until a fresh snapshot arrives',
      );
    }
    if (!this.index) return;
    logger.info(
      { version: this.index.version, cards: this.index.size, keySet: this.keySetVersion },
      'roster loaded',
    );
  }

  /**
   * Verifies stored files as strictly as new ones, but against any key set this device has trusted:
   * a roster accepted before a key rotation stays in force until the next one arrives.
   */
  private async loadVerified(kind: 'snapshot' | 'delta', version: number) {
    const manifestBytes = await readFile(join(this.options.dir, fileName(kind, version, 'manifest')));
    let manifest: RosterManifest | undefined;
    let lastError: unknown = new RosterRejected('unknown-key', 'no roster key set accepted');
    for (const keys of [...this.keySets].reverse()) {
      try {
        manifest = verifyManifest(manifestBytes, keys, this.options);
        break;
      } catch (error) {
        lastError = error;
      }
    }
    if (!manifest) throw lastError;
    const bodyBytes = await readFile(join(this.options.dir, fileName(kind, version, 'body')));
    return {
      manifest,
      body: verifyBody(manifest, bodyBytes, this.maxBodyBytes),
    };
  }
}
