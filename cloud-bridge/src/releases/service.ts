import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type ReleaseArch,
  type ReleaseManifest,
  ReleaseRefused,
  type RosterKeySet,
  type SignedEnvelope,
  sha256Hex,
  verifyReleaseSignatures,
} from '@educard/terminal-sdk';
import { writeFileDurableSync } from '@educard/terminal-sdk/files';
import * as tar from 'tar';
import { type ModuleSteps, migrateModule, type SqlDatabase } from '../store/index.js';

const STEPS: ModuleSteps = {
  sqlite: [
    `CREATE TABLE releases (
     version TEXT NOT NULL,
     arch TEXT NOT NULL,
     manifest TEXT NOT NULL,
     files INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     expires_at TEXT NOT NULL,
     added_at TEXT NOT NULL,
     added_by TEXT NOT NULL,
     PRIMARY KEY (version, arch)
   );`,
  ],
  postgres: [
    `CREATE TABLE releases (
       version TEXT COLLATE "C" NOT NULL,
       arch TEXT COLLATE "C" NOT NULL,
       manifest TEXT NOT NULL,
       files INTEGER NOT NULL,
       bytes BIGINT NOT NULL,
       expires_at TEXT NOT NULL,
       added_at TEXT COLLATE "C" NOT NULL,
       added_by TEXT NOT NULL,
       PRIMARY KEY (version, arch)
     );`,
  ],
};

export interface ReleaseView {
  version: string;
  arch: ReleaseArch;
  files: number;
  bytes: number;
  expiresAt: string;
  addedAt: string;
  addedBy: string;
  rebuild: string[];
}

/** A release the bridge will not take: 422 when it does not verify, 409 when another is there by that name. */
export class ReleaseNotTaken extends Error {
  constructor(
    readonly status: 400 | 409 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'ReleaseNotTaken';
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

interface Row {
  version: string;
  arch: ReleaseArch;
  manifest: string;
  files: number;
  bytes: number;
  expires_at: string;
  added_at: string;
  added_by: string;
}

/** A release as `Releases.get` hands it out: its signed manifest parsed, and where devices fetch its bytes. */
export interface HeldRelease {
  envelope: SignedEnvelope<ReleaseManifest>;
  manifest: ReleaseManifest;
  /** SHA-256 and size of the manifest's bytes, served among the release files by that hash. */
  sha256: string;
  size: number;
  /** When the release was added: one removed and added again (on any instance) is another. */
  addedAt: string;
}

/**
 * The releases the bridge distributes. It checks each as a device would (signed by the key set's
 * release keys, every file matching its SHA-256), but cannot make one: it holds no release key. Files
 * are kept once by SHA-256 under `dataDir/releases/files`, shared by every release that has them.
 */
export class Releases {
  readonly filesDir: string;
  private readonly held = new Map<string, HeldRelease>();

  constructor(
    private readonly db: SqlDatabase,
    private readonly dataDir: string,
    private readonly keySet: () => RosterKeySet,
    private readonly now: () => Date = () => new Date(),
  ) {
    migrateModule(db, 'releases', STEPS);
    this.filesDir = join(dataDir, 'releases', 'files');
  }

  /** Takes a release archive (as `npm run release` writes it) from a stream. */
  async add(archive: Readable, by: string): Promise<ReleaseView> {
    await mkdir(this.filesDir, { recursive: true });
    const incoming = await mkdtemp(join(this.dataDir, 'releases', 'incoming-'));
    try {
      await pipeline(
        archive,
        tar.x({
          cwd: incoming,
          strict: true,
          // Only the two things a release holds, as plain files: nothing else is written.
          filter: (path, entry) =>
            ('type' in entry ? entry.type === 'File' || entry.type === 'Directory' : true) &&
            (path === 'manifest.json' || /^files\/?([0-9a-f]{64})?$/.test(path)),
        }),
      ).catch((error: Error) => {
        throw new ReleaseNotTaken(400, `not a release archive: ${error.message}`);
      });
      const text = await readFile(join(incoming, 'manifest.json'), 'utf8').catch(() => {
        throw new ReleaseNotTaken(400, 'the archive holds no manifest.json: make it with npm run release');
      });
      let envelope: unknown;
      try {
        envelope = JSON.parse(text);
      } catch {
        throw new ReleaseNotTaken(400, 'manifest.json is not JSON');
      }
      let manifest: ReleaseManifest;
      try {
        manifest = verifyReleaseSignatures(envelope, this.keySet());
      } catch (error) {
        if (error instanceof ReleaseRefused) throw new ReleaseNotTaken(422, error.message);
        throw error;
      }
      if (Date.parse(manifest.expiresAt) <= this.now().getTime())
        throw new ReleaseNotTaken(422, `expired: its manifest expired at ${manifest.expiresAt}`);
      const held = this.get(manifest.version, manifest.arch);
      if (held) {
        if (JSON.stringify(held.envelope) === JSON.stringify(envelope))
          return this.view(this.row(manifest.version, manifest.arch) as Row);
        throw new ReleaseNotTaken(
          409,
          `${manifest.version} for ${manifest.arch} is here already, with other contents`,
        );
      }
      for (const file of new Map(manifest.files.map((f) => [f.sha256, f])).values()) {
        const kept = join(this.filesDir, file.sha256);
        if ((await stat(kept).catch(() => undefined))?.size === file.size) continue;
        const path = join(incoming, 'files', file.sha256);
        const size = (await stat(path).catch(() => undefined))?.size;
        if (size !== file.size || (await sha256Of(path)) !== file.sha256)
          throw new ReleaseNotTaken(
            422,
            `${file.path} is missing from the archive or does not match its SHA-256`,
          );
        await rename(path, kept);
      }
      const bytes = manifest.files.reduce((sum, f) => sum + f.size, 0);
      this.db
        .prepare(
          'INSERT INTO releases (version, arch, manifest, files, bytes, expires_at, added_at, added_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          manifest.version,
          manifest.arch,
          JSON.stringify(envelope),
          manifest.files.length,
          bytes,
          manifest.expiresAt,
          this.now().toISOString(),
          by,
        );
      return this.view(this.row(manifest.version, manifest.arch) as Row);
    } finally {
      await rm(incoming, { recursive: true, force: true });
    }
  }

  list(): ReleaseView[] {
    return (this.db.prepare('SELECT * FROM releases ORDER BY added_at, version, arch').all() as Row[]).map(
      (row) => this.view(row),
    );
  }

  /**
   * The signed manifest of a release, as it came, and its JSON text. A manifest is about a megabyte
   * (it lists every file) and a rollout offers it to every device: it is read and parsed once. A
   * release never changes under its version and architecture (another with other contents is
   * refused), so only when the one here was added is asked each time: removed and added again,
   * perhaps on another bridge instance, it is read anew.
   */
  get(version: string, arch: string): HeldRelease | undefined {
    const key = `${version}/${arch}`;
    const added = this.db
      .prepare<[string, string], { added_at: string }>(
        'SELECT added_at FROM releases WHERE version = ? AND arch = ?',
      )
      .get(version, arch)?.added_at;
    const cached = this.held.get(key);
    if (added !== undefined && cached?.addedAt === added) return cached;
    this.held.delete(key);
    if (added === undefined) return undefined;
    const row = this.row(version, arch);
    if (!row) return undefined;
    const envelope = JSON.parse(row.manifest) as SignedEnvelope<ReleaseManifest>;
    const sha256 = sha256Hex(row.manifest);
    // Written here rather than by add() alone: a release added before manifests were served has none yet.
    const served = join(this.filesDir, sha256);
    if (!existsSync(served)) writeFileDurableSync(served, row.manifest);
    const held = {
      envelope,
      manifest: envelope.signed,
      sha256,
      size: Buffer.byteLength(row.manifest),
      addedAt: row.added_at,
    };
    this.held.set(key, held);
    return held;
  }

  versions(version: string): ReleaseView[] {
    return this.list().filter((release) => release.version === version);
  }

  /** Removes a release (every architecture, or one) and the files no other release has. */
  async remove(version: string, arch?: string): Promise<ReleaseView[]> {
    const gone = this.versions(version).filter((release) => !arch || release.arch === arch);
    const unused = new Set<string>();
    for (const release of gone) {
      const held = this.get(release.version, release.arch);
      if (held) unused.add(held.sha256);
      for (const file of held?.manifest.files ?? []) unused.add(file.sha256);
      this.held.delete(`${release.version}/${release.arch}`);
      this.db
        .prepare('DELETE FROM releases WHERE version = ? AND arch = ?')
        .run(release.version, release.arch);
    }
    for (const row of this.db.prepare('SELECT manifest FROM releases').all() as { manifest: string }[]) {
      unused.delete(sha256Hex(row.manifest));
      for (const file of (JSON.parse(row.manifest) as SignedEnvelope<ReleaseManifest>).signed.files)
        unused.delete(file.sha256);
    }
    for (const sha256 of unused) await rm(join(this.filesDir, sha256), { force: true });
    return gone;
  }

  /** The path of a release file, when the bridge holds it. */
  filePath(sha256: string): string | undefined {
    return SHA256.test(sha256) ? join(this.filesDir, sha256) : undefined;
  }

  private row(version: string, arch: string): Row | undefined {
    return this.db.prepare('SELECT * FROM releases WHERE version = ? AND arch = ?').get(version, arch) as
      | Row
      | undefined;
  }

  private view(row: Row): ReleaseView {
    const manifest = (JSON.parse(row.manifest) as SignedEnvelope<ReleaseManifest>).signed;
    return {
      version: row.version,
      arch: row.arch,
      files: row.files,
      bytes: row.bytes,
      expiresAt: row.expires_at,
      addedAt: row.added_at,
      addedBy: row.added_by,
      rebuild: manifest.rebuild,
    };
  }
}
