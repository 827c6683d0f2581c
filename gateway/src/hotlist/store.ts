import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HotlistFormatError, HotlistManifest, HotlistTable, SerialQueue } from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import { RosterRejected, reject } from '../roster/errors.js';
import { checkBodyBytes, type VerifiedKeySet, verifyRosterSigned } from '../roster/verify.js';
import { writeFileDurable } from '../storage/index.js';

/** A million revoked cards take 9 MB; this leaves room for several times that, and no more. */
export const DEFAULT_MAX_HOTLIST_BYTES = 64 * 1024 * 1024;

export interface HotlistStoreOptions {
  /** Where the hotlist's files are kept (`dataDir/hotlist`). */
  dir: string;
  logger: Logger;
  /** The key sets the device trusts, oldest first (the roster store's chain). */
  keySets: () => readonly VerifiedKeySet[];
  /** The time the device may trust (the clock, never below the time floor). */
  now: () => number;
  maxBodyBytes?: number;
}

/** The hotlist in force: its table, and the dates of the manifest that brought it. */
export interface HotlistView {
  readonly table: HotlistTable;
  readonly version: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export type HotlistAcceptResult =
  | { status: 'applied'; version: number; kind: 'snapshot' | 'delta'; entries: number }
  | { status: 'unchanged'; version: number };

/** A body, or a way to fetch it once the manifest has been found worth it. */
export type HotlistBodySource = Uint8Array | ((manifest: HotlistManifest) => Promise<Uint8Array>);

type Kind = 'snapshot' | 'delta';
const pad = (version: number) => String(version).padStart(10, '0');
const fileName = (kind: Kind, version: number, part: 'manifest' | 'body') =>
  `${kind}-${pad(version)}.${part === 'manifest' ? 'manifest.json' : 'body.bin'}`;
const STORED = /^(snapshot|delta)-(\d{10})\.manifest\.json$/;

/** A body's refusal in the roster's words: a format error is malformed, a delta that does not fit inconsistent. */
function tableFrom(run: () => HotlistTable, code: 'malformed' | 'inconsistent'): HotlistTable {
  try {
    return run();
  } catch (error) {
    if (error instanceof HotlistFormatError) reject(code, `hotlist body: ${error.message}`);
    throw error;
  }
}

/**
 * The district's hotlist (docs/hotlist.md), trusted as the roster is: a manifest signed by the roster
 * keys of the current key set, no rollback, no expired manifest, deltas only in order, the body's length
 * and digest before a byte of it is read. Kept on disk as the signed files it came in (body first, then
 * its manifest, each written durably) and in memory as one buffer. Whatever is refused leaves the list
 * in force as it was.
 */
export class HotlistStore {
  private held: HotlistView | undefined;
  private readonly queue = new SerialQueue();
  private readonly maxBodyBytes: number;

  private constructor(private readonly options: HotlistStoreOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_HOTLIST_BYTES;
  }

  static async open(options: HotlistStoreOptions): Promise<HotlistStore> {
    await mkdir(options.dir, { recursive: true });
    const store = new HotlistStore(options);
    await store.load();
    return store;
  }

  get view(): HotlistView | undefined {
    return this.held;
  }

  get version(): number {
    return this.held?.version ?? 0;
  }

  /** Checks a manifest's signature only: what the uplink asks before it fetches a body. */
  inspect(manifestBytes: Uint8Array): HotlistManifest {
    const keys = this.options.keySets().at(-1);
    if (!keys) return reject('unknown-key', 'no roster key set accepted yet');
    return verifyRosterSigned(manifestBytes, keys, HotlistManifest, 'hotlist manifest');
  }

  /** Verifies a manifest and its body and, when they are the next hotlist, makes them the one in force. */
  accept(manifestBytes: Uint8Array, body: HotlistBodySource): Promise<HotlistAcceptResult> {
    return this.queue.run(async () => {
      try {
        const result = await this.acceptNow(manifestBytes, body);
        if (result.status === 'applied') this.options.logger.info(result, 'hotlist applied');
        return result;
      } catch (error) {
        if (error instanceof RosterRejected)
          this.options.logger.warn({ code: error.code, reason: error.message }, 'hotlist update rejected');
        throw error;
      }
    });
  }

  private async acceptNow(manifestBytes: Uint8Array, body: HotlistBodySource): Promise<HotlistAcceptResult> {
    const manifest = this.inspect(manifestBytes);
    const held = this.version;
    if (manifest.version === held) return { status: 'unchanged', version: held };
    if (manifest.version < held)
      reject('rollback', `hotlist ${manifest.version} is older than ${held}, in force`);
    if (Date.parse(manifest.expiresAt) <= this.options.now())
      reject('expired', `hotlist manifest expired at ${manifest.expiresAt}`);
    const { kind } = manifest.body;
    if (kind === 'delta' && manifest.body.fromVersion !== held)
      reject(
        'out-of-order',
        `hotlist delta follows ${manifest.body.fromVersion}, version ${held} is in force`,
      );
    if (manifest.body.length > this.maxBodyBytes)
      reject(
        'too-large',
        `hotlist of ${manifest.body.length} bytes is over the ${this.maxBodyBytes} allowed`,
      );
    const bytes = typeof body === 'function' ? await body(manifest) : body;
    const view = this.verified(manifest, bytes, this.held?.table);
    await this.persist(kind, manifest.version, manifestBytes, bytes);
    this.held = view;
    if (kind === 'snapshot') await this.removeOlderThan(manifest.version);
    return { status: 'applied', version: manifest.version, kind, entries: view.table.size };
  }

  /** The table a body makes: length, digest and agreement with its manifest first, then its entries. */
  private verified(
    manifest: HotlistManifest,
    bytes: Uint8Array,
    base: HotlistTable | undefined,
  ): HotlistView {
    checkBodyBytes(manifest.body, bytes, 'hotlist body');
    let table: HotlistTable;
    if (manifest.body.kind === 'snapshot')
      table = tableFrom(() => HotlistTable.fromSnapshot(bytes), 'malformed');
    else if (!base) return reject('out-of-order', 'a hotlist delta needs a snapshot first');
    else table = tableFrom(() => base.applyDelta(bytes), 'inconsistent');
    if (table.version !== manifest.version)
      reject('inconsistent', `hotlist body is version ${table.version}, its manifest ${manifest.version}`);
    return {
      table,
      version: manifest.version,
      issuedAt: Date.parse(manifest.issuedAt),
      expiresAt: Date.parse(manifest.expiresAt),
    };
  }

  /** The body first, then the manifest that names it: a manifest on disk always has its body. */
  private async persist(kind: Kind, version: number, manifest: Uint8Array, body: Uint8Array): Promise<void> {
    await writeFileDurable(join(this.options.dir, fileName(kind, version, 'body')), body);
    await writeFileDurable(join(this.options.dir, fileName(kind, version, 'manifest')), manifest);
  }

  private async stored(): Promise<{ kind: Kind; version: number }[]> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    return names
      .flatMap((name) => {
        const match = STORED.exec(name);
        return match ? [{ kind: match[1] as Kind, version: Number(match[2]) }] : [];
      })
      .sort((a, b) => a.version - b.version);
  }

  private async removeOlderThan(version: number): Promise<void> {
    for (const file of await this.stored()) {
      if (file.version > version || (file.version === version && file.kind === 'snapshot')) continue;
      // The manifest first: a crash between the two leaves an orphan body, never a bodiless manifest.
      await rm(join(this.options.dir, fileName(file.kind, file.version, 'manifest')), { force: true });
      await rm(join(this.options.dir, fileName(file.kind, file.version, 'body')), { force: true });
    }
  }

  /** A stored file's manifest, against any key set this device has trusted (one may predate a rotation). */
  private async readVerified(
    kind: Kind,
    version: number,
    base: HotlistTable | undefined,
  ): Promise<HotlistView> {
    const bytes = await readFile(join(this.options.dir, fileName(kind, version, 'manifest')));
    let lastError: unknown = new RosterRejected('unknown-key', 'no roster key set accepted');
    for (const keys of [...this.options.keySets()].reverse()) {
      let manifest: HotlistManifest;
      try {
        manifest = verifyRosterSigned(bytes, keys, HotlistManifest, 'hotlist manifest');
      } catch (error) {
        lastError = error;
        continue;
      }
      const body = await readFile(join(this.options.dir, fileName(kind, version, 'body')));
      return this.verified(manifest, body, base);
    }
    throw lastError;
  }

  /** The newest stored snapshot that verifies, then the deltas after it in order, up to one that does not. */
  private async load(): Promise<void> {
    const { logger } = this.options;
    const files = await this.stored();
    for (const snapshot of files.filter((f) => f.kind === 'snapshot').reverse()) {
      try {
        this.held = await this.readVerified('snapshot', snapshot.version, undefined);
        break;
      } catch (error) {
        logger.error(
          { version: snapshot.version, reason: (error as Error).message },
          'stored hotlist snapshot does not verify',
        );
      }
    }
    for (const delta of files.filter((f) => f.kind === 'delta' && f.version > this.version)) {
      try {
        this.held = await this.readVerified('delta', delta.version, this.held?.table);
      } catch (error) {
        logger.error(
          { version: delta.version, reason: (error as Error).message },
          'stored hotlist delta not applied; later ones skipped',
        );
        break;
      }
    }
    if (this.held)
      logger.info({ version: this.held.version, entries: this.held.table.size }, 'hotlist loaded');
  }
}
