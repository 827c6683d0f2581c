import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialQueue } from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import { isStoredFileDamage, RosterRejected, reject } from '../roster/errors.js';
import type { VerifiedKeySet } from '../roster/verify.js';
import { quarantineFile, writeFileDurable } from '../storage/index.js';

/** What every snapshot document's manifest says: the catalogue's and the venue plan's. */
export interface SnapshotManifest {
  version: number;
  expiresAt: string;
  body: { length: number };
}

/** One kind of signed snapshot document: how its files are named, checked and held. */
export interface SnapshotKind<M extends SnapshotManifest, V> {
  /** The files' prefix (`catalogue` makes `catalogue-0000000001.manifest.json`), and what logs call it. */
  name: string;
  /** Signature, schema and scope of a manifest, against one key set. */
  verifyManifest(bytes: Uint8Array, keys: VerifiedKeySet, school: string): M;
  /** The body checked against its manifest and made into what the station reads. */
  load(manifest: M, body: Uint8Array, maxBodyBytes: number): V;
  /** How many items it holds, for the logs and the result of an update. */
  size(view: V): number;
}

export interface SignedSnapshotStoreOptions {
  /** Where its files are kept (`dataDir/<name>`). */
  dir: string;
  school: string;
  logger: Logger;
  /** The key sets the device trusts, oldest first (`trustedKeySets(rosterDir)`). */
  keySets: () => Promise<readonly VerifiedKeySet[]>;
  /** The time the device may trust (the clock, never below the time floor). */
  now: () => number;
  maxBodyBytes?: number;
}

export type SnapshotAcceptResult =
  | { status: 'applied'; version: number; items: number }
  | { status: 'unchanged'; version: number };

/** A body, or a way to fetch it once the manifest has been found worth it. */
export type SnapshotBodySource<M> = Uint8Array | ((manifest: M) => Promise<Uint8Array>);

export const DEFAULT_MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

const pad = (version: number) => String(version).padStart(10, '0');

/**
 * A signed snapshot document in force (a library catalogue, a venue's plan): kept on disk as the
 * signed files it came in (body first, then its manifest, each written durably), in memory as the
 * kind's view. Only a newer version signed by the current key set replaces it; whatever is refused
 * leaves it as it was. One stored before a key rotation stays loadable, as a roster does.
 */
export class SignedSnapshotStore<M extends SnapshotManifest, V> {
  private held: V | undefined;
  private heldVersion = 0;
  private readonly queue = new SerialQueue();
  private readonly maxBodyBytes: number;
  private readonly stored: RegExp;

  protected constructor(
    private readonly kind: SnapshotKind<M, V>,
    private readonly options: SignedSnapshotStoreOptions,
  ) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES;
    this.stored = new RegExp(`^${kind.name}-(\\d{10})\\.manifest\\.json$`);
  }

  /** A store made by a kind's own class, once it has loaded what is on disk. */
  protected static async loaded<S extends SignedSnapshotStore<SnapshotManifest, unknown>>(
    store: S,
  ): Promise<S> {
    await store.load();
    return store;
  }

  get view(): V | undefined {
    return this.held;
  }

  /** Checks a manifest's signature and school only: what the uplink asks before it fetches a body. */
  async inspect(manifestBytes: Uint8Array): Promise<M> {
    const keys = (await this.options.keySets()).at(-1);
    if (!keys) return reject('unknown-key', 'no roster key set accepted yet');
    return this.kind.verifyManifest(manifestBytes, keys, this.options.school);
  }

  /** Verifies a manifest and its body and, when they are newer than the document in force, applies them. */
  accept(manifestBytes: Uint8Array, body: SnapshotBodySource<M>): Promise<SnapshotAcceptResult> {
    return this.queue.run(async () => {
      try {
        const result = await this.acceptNow(manifestBytes, body);
        if (result.status === 'applied') this.options.logger.info(result, `${this.kind.name} applied`);
        return result;
      } catch (error) {
        if (error instanceof RosterRejected)
          this.options.logger.warn({ code: error.code, reason: error.message }, `${this.kind.name} rejected`);
        throw error;
      }
    });
  }

  private fileName(version: number, part: 'manifest' | 'body'): string {
    return `${this.kind.name}-${pad(version)}.${part}.json`;
  }

  private async acceptNow(
    manifestBytes: Uint8Array,
    body: SnapshotBodySource<M>,
  ): Promise<SnapshotAcceptResult> {
    const { name } = this.kind;
    const manifest = await this.inspect(manifestBytes);
    const held = this.heldVersion;
    if (manifest.version === held) return { status: 'unchanged', version: held };
    if (manifest.version < held) reject('rollback', `${name} ${manifest.version} is older than ${held}`);
    if (Date.parse(manifest.expiresAt) <= this.options.now())
      reject('expired', `${name} manifest expired at ${manifest.expiresAt}`);
    if (manifest.body.length > this.maxBodyBytes)
      reject(
        'too-large',
        `${name} of ${manifest.body.length} bytes is over the ${this.maxBodyBytes} allowed`,
      );
    const bytes = typeof body === 'function' ? await body(manifest) : body;
    const view = this.kind.load(manifest, bytes, this.maxBodyBytes);
    const { dir } = this.options;
    await mkdir(dir, { recursive: true });
    await writeFileDurable(join(dir, this.fileName(manifest.version, 'body')), bytes);
    await writeFileDurable(join(dir, this.fileName(manifest.version, 'manifest')), manifestBytes);
    this.held = view;
    this.heldVersion = manifest.version;
    for (const version of await this.storedVersions()) {
      if (version >= manifest.version) continue;
      // The manifest first: a crash between the two leaves an orphan body, never a bodiless manifest.
      await rm(join(dir, this.fileName(version, 'manifest')), { force: true });
      await rm(join(dir, this.fileName(version, 'body')), { force: true });
    }
    return { status: 'applied', version: manifest.version, items: this.kind.size(view) };
  }

  private async storedVersions(): Promise<number[]> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    return names
      .map((name) => this.stored.exec(name)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** The newest stored document that verifies against any key set this device has trusted. */
  private async load(): Promise<void> {
    const { dir, logger, school } = this.options;
    await mkdir(dir, { recursive: true });
    const keySets = [...(await this.options.keySets())].reverse();
    for (const version of (await this.storedVersions()).reverse()) {
      try {
        const manifestBytes = await readFile(join(dir, this.fileName(version, 'manifest')));
        let manifest: M | undefined;
        let lastError: unknown = new RosterRejected('unknown-key', 'no roster key set accepted');
        for (const keys of keySets) {
          try {
            manifest = this.kind.verifyManifest(manifestBytes, keys, school);
            break;
          } catch (error) {
            lastError = error;
          }
        }
        if (!manifest) throw lastError;
        const bytes = await readFile(join(dir, this.fileName(version, 'body')));
        this.held = this.kind.load(manifest, bytes, this.maxBodyBytes);
        this.heldVersion = manifest.version;
        logger.info({ version, items: this.kind.size(this.held) }, `${this.kind.name} loaded`);
        return;
      } catch (error) {
        logger.error(
          { version, reason: (error as Error).message },
          `stored ${this.kind.name} does not verify`,
        ); // Damaged at rest (not a key this device does not trust yet): kept aside; the uplink fetches it again.
        if (isStoredFileDamage(error))
          for (const part of ['manifest', 'body'] as const)
            await quarantineFile(
              join(dir, this.fileName(version, part)),
              `${this.kind.name} ${version}: ${(error as Error).message}`,
            ).catch(() => undefined);
      }
    }
  }
}
