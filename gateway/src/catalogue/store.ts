import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CatalogueManifest } from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import { isStoredFileDamage, RosterRejected, reject } from '../roster/errors.js';
import type { VerifiedKeySet } from '../roster/verify.js';
import { quarantineFile, writeFileDurable } from '../storage/index.js';
import {
  CatalogueIndex,
  type CatalogueView,
  verifyCatalogueBody,
  verifyCatalogueManifest,
} from './verify.js';

export const DEFAULT_MAX_CATALOGUE_BYTES = 64 * 1024 * 1024;

export interface CatalogueStoreOptions {
  /** Where the catalogue's files are kept (`dataDir/catalogue`). */
  dir: string;
  school: string;
  logger: Logger;
  /** The key sets the device trusts, oldest first (`trustedKeySets(rosterDir)`). */
  keySets: () => Promise<VerifiedKeySet[]>;
  /** The time the device may trust (the clock, never below the time floor). */
  now: () => number;
  maxBodyBytes?: number;
}

export type CatalogueAcceptResult =
  | { status: 'applied'; version: number; items: number }
  | { status: 'unchanged'; version: number };

/** A body, or a way to fetch it once the manifest has been found worth it. */
export type CatalogueBodySource = Uint8Array | ((manifest: CatalogueManifest) => Promise<Uint8Array>);

const pad = (version: number) => String(version).padStart(10, '0');
const fileName = (version: number, part: 'manifest' | 'body') => `catalogue-${pad(version)}.${part}.json`;
const STORED = /^catalogue-(\d{10})\.manifest\.json$/;

/**
 * The library catalogue in force: kept on disk as the signed files it came in (body first, then its
 * manifest, each written durably), in memory as an index. Only a newer version signed by the current
 * key set replaces it; whatever is refused leaves it as it was. A catalogue stored before a key
 * rotation stays loadable, as a roster does.
 */
export class CatalogueStore {
  private index: CatalogueIndex | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly maxBodyBytes: number;

  private constructor(private readonly options: CatalogueStoreOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_CATALOGUE_BYTES;
  }

  static async open(options: CatalogueStoreOptions): Promise<CatalogueStore> {
    await mkdir(options.dir, { recursive: true });
    const store = new CatalogueStore(options);
    await store.load();
    return store;
  }

  get view(): CatalogueView | undefined {
    return this.index;
  }

  /** Checks a manifest's signature and school only: what the uplink asks before it fetches a body. */
  async inspect(manifestBytes: Uint8Array): Promise<CatalogueManifest> {
    const keys = (await this.options.keySets()).at(-1);
    if (!keys) return reject('unknown-key', 'no roster key set accepted yet');
    return verifyCatalogueManifest(manifestBytes, keys, this.options.school);
  }

  /** Verifies a manifest and its body and, when they are newer than the catalogue in force, applies them. */
  accept(manifestBytes: Uint8Array, body: CatalogueBodySource): Promise<CatalogueAcceptResult> {
    return this.serialise(async () => {
      try {
        const result = await this.acceptNow(manifestBytes, body);
        if (result.status === 'applied') this.options.logger.info(result, 'catalogue applied');
        return result;
      } catch (error) {
        if (error instanceof RosterRejected)
          this.options.logger.warn({ code: error.code, reason: error.message }, 'catalogue rejected');
        throw error;
      }
    });
  }

  private async acceptNow(
    manifestBytes: Uint8Array,
    body: CatalogueBodySource,
  ): Promise<CatalogueAcceptResult> {
    const manifest = await this.inspect(manifestBytes);
    const held = this.index?.version ?? 0;
    if (manifest.version === held) return { status: 'unchanged', version: held };
    if (manifest.version < held) reject('rollback', `catalogue ${manifest.version} is older than ${held}`);
    if (Date.parse(manifest.expiresAt) <= this.options.now())
      reject('expired', `catalogue manifest expired at ${manifest.expiresAt}`);
    if (manifest.body.length > this.maxBodyBytes)
      reject(
        'too-large',
        `catalogue of ${manifest.body.length} bytes is over the ${this.maxBodyBytes} allowed`,
      );
    const bytes = typeof body === 'function' ? await body(manifest) : body;
    const index = new CatalogueIndex(verifyCatalogueBody(manifest, bytes, this.maxBodyBytes), manifest);
    const { dir } = this.options;
    await writeFileDurable(join(dir, fileName(manifest.version, 'body')), bytes);
    await writeFileDurable(join(dir, fileName(manifest.version, 'manifest')), manifestBytes);
    this.index = index;
    for (const version of await this.stored()) {
      if (version >= manifest.version) continue;
      // The manifest first: a crash between the two leaves an orphan body, never a bodiless manifest.
      await rm(join(dir, fileName(version, 'manifest')), { force: true });
      await rm(join(dir, fileName(version, 'body')), { force: true });
    }
    return { status: 'applied', version: manifest.version, items: index.size };
  }

  private async stored(): Promise<number[]> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    return names
      .map((name) => STORED.exec(name)?.[1])
      .filter((v): v is string => v !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** The newest stored catalogue that verifies against any key set this device has trusted. */
  private async load(): Promise<void> {
    const { dir, logger, school } = this.options;
    const keySets = [...(await this.options.keySets())].reverse();
    for (const version of (await this.stored()).reverse()) {
      try {
        const manifestBytes = await readFile(join(dir, fileName(version, 'manifest')));
        let manifest: CatalogueManifest | undefined;
        let lastError: unknown = new RosterRejected('unknown-key', 'no roster key set accepted');
        for (const keys of keySets) {
          try {
            manifest = verifyCatalogueManifest(manifestBytes, keys, school);
            break;
          } catch (error) {
            lastError = error;
          }
        }
        if (!manifest) throw lastError;
        const bytes = await readFile(join(dir, fileName(version, 'body')));
        this.index = new CatalogueIndex(verifyCatalogueBody(manifest, bytes, this.maxBodyBytes), manifest);
        logger.info({ version, items: this.index.size }, 'catalogue loaded');
        return;
      } catch (error) {
        logger.error({ version, reason: (error as Error).message }, 'stored catalogue does not verify');
        // Damaged at rest (not a key this device does not trust yet): kept aside; the uplink fetches it again.
        if (isStoredFileDamage(error)) {
          for (const part of ['manifest', 'body'] as const) {
            await quarantineFile(
              join(dir, fileName(version, part)),
              `catalogue ${version}: ${(error as Error).message}`,
            ).catch(() => undefined);
          }
        }
      }
    }
  }

  private serialise<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
