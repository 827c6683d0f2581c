import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  mkdir,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  backoffDelay,
  type ManifestRef,
  type ReleaseFile,
  type ReleaseManifest,
  ReleaseRefused,
  retriableStatus,
  retryAfterMs,
} from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import type { ReleaseRoot } from './layout.js';

const run = promisify(execFile);

/** Where the files a device lacks come from: the bridge over HTTP, with Range so that a cut download resumes. */
export interface ReleaseSource {
  /**
   * Appends the bytes of `sha256` from `offset` on to the file at `path`; answers how many came. A
   * source that sends more than the file's `size` is cut off: what it sent is refused as tampered.
   */
  fetch(
    sha256: string,
    offset: number,
    size: number,
    path: string,
    signal: AbortSignal,
  ): Promise<{ bytes: number; resumed: boolean }>;
}

/**
 * A fetch that may well succeed if tried again: the bridge busy (429, 5xx, with or without a
 * `Retry-After`) or the connection cut. Anything else (404, 403, a tampered file) is not retried.
 */
export class FetchInterrupted extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'FetchInterrupted';
  }
}

export interface StageProgress {
  /** Bytes fetched from the source by this device for this release, across restarts. */
  fetched: number;
  /** Bytes of the whole release. */
  total: number;
}

async function sha256Of(path: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    await pipeline(createReadStream(path), hash);
  } catch {
    return undefined;
  }
  return hash.digest('hex');
}

async function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.size,
    () => undefined,
  );
}

/** Whether `path` holds exactly the file the manifest names. */
async function holds(path: string, file: Pick<ReleaseFile, 'sha256' | 'size'>): Promise<boolean> {
  return (await sizeOf(path)) === file.size && (await sha256Of(path)) === file.sha256;
}

class TooLong extends Error {}

/** The HTTP source: the bridge's release files, fetched with the device's broker credentials. */
export function bridgeSource(
  base: URL,
  credentials: { username?: string; password?: string },
): ReleaseSource {
  const authorization =
    credentials.username && credentials.password
      ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`
      : undefined;
  return {
    async fetch(sha256, offset, size, path, signal) {
      let response: Response;
      try {
        response = await fetch(new URL(sha256, base), {
          headers: {
            ...(authorization ? { authorization } : {}),
            ...(offset > 0 ? { range: `bytes=${offset}-` } : {}),
          },
          signal,
        });
      } catch (error) {
        throw signal.aborted
          ? error
          : new FetchInterrupted(`bridge unreachable: ${(error as Error).message}`);
      }
      if (response.status !== 200 && response.status !== 206) {
        await response.body?.cancel();
        const message = `release file ${sha256.slice(0, 12)} answered HTTP ${response.status}`;
        if (retriableStatus(response.status))
          throw new FetchInterrupted(message, retryAfterMs(response.headers.get('retry-after')));
        throw new Error(message);
      }
      const resumed = response.status === 206;
      if (!resumed && offset > 0) await truncate(path, 0);
      const room = size - (resumed ? offset : 0);
      let bytes = 0;
      const count = new Transform({
        transform(chunk: Buffer, _encoding, done) {
          bytes += chunk.length;
          done(
            bytes > room ? new TooLong(`more than the ${size} bytes of ${sha256.slice(0, 12)}`) : null,
            chunk,
          );
        },
      });
      try {
        await pipeline(
          Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
          count,
          createWriteStream(path, { flags: 'a' }),
          { signal },
        );
      } catch (error) {
        if (error instanceof TooLong) {
          await truncate(path, 0);
          throw new ReleaseRefused('tampered', `the bridge sent ${error.message}`);
        }
        // What came before the cut stays in the file: the next try resumes after it.
        throw signal.aborted ? error : new FetchInterrupted(`download cut: ${(error as Error).message}`);
      }
      return { bytes, resumed };
    },
  };
}

/** A folder of content-addressed files (a release as `npm run release` writes it, unpacked). */
export function folderSource(dir: string): ReleaseSource {
  return {
    async fetch(sha256, _offset, _size, path) {
      await rm(path, { force: true });
      await link(join(dir, sha256), path).catch(() => copyFile(join(dir, sha256), path));
      return { bytes: (await sizeOf(path)) ?? 0, resumed: false };
    },
  };
}

export interface FetchObjectOptions {
  source: ReleaseSource;
  /** What is fetched: its SHA-256, size, and a name for the log. */
  file: Pick<ReleaseFile, 'path' | 'sha256' | 'size'>;
  /** Where it is kept once it matches; it grows beside it as `.part` until then. */
  object: string;
  /** Why a file that does not match is refused. */
  mismatch: string;
  retries: number;
  logger: Logger;
  signal: AbortSignal;
  /** Bytes newly fetched (a resumed fetch counts what it added, a fetch started again all it brought). */
  onBytes?: (bytes: number) => void;
}

/**
 * Fetches one content-addressed file into `object`, resuming a `.part` left by a cut and trying an
 * interrupted fetch again (backing off, or as the bridge's `Retry-After` says); refuses it as tampered
 * unless its size and SHA-256 match.
 */
export async function fetchObject(options: FetchObjectOptions): Promise<void> {
  const { source, file, object, logger, signal } = options;
  const part = `${object}.part`;
  for (let attempt = 0; ; attempt++) {
    let offset = (await sizeOf(part)) ?? 0;
    if (offset >= file.size) offset = 0;
    if (offset === 0) await writeFile(part, new Uint8Array());
    try {
      const got = await source.fetch(file.sha256, offset, file.size, part, signal);
      options.onBytes?.(got.bytes - (got.resumed ? 0 : offset));
      logger.info(
        { file: file.path, bytes: got.bytes, resumedFrom: got.resumed ? offset : 0 },
        'release file fetched',
      );
      break;
    } catch (error) {
      if (!(error instanceof FetchInterrupted) || attempt >= options.retries) throw error;
      const waitMs = error.retryAfterMs ?? backoffDelay(attempt, 1000, 30_000);
      logger.warn(
        { file: file.path, attempt: attempt + 1, waitMs, reason: error.message },
        'release file fetch interrupted, trying again',
      );
      await sleep(waitMs, undefined, { signal });
    }
  }
  if (!(await holds(part, file))) {
    await rm(part, { force: true });
    throw new ReleaseRefused('tampered', options.mismatch);
  }
  await rename(part, object);
}

/**
 * The signed manifest an offer names, as bytes matching its SHA-256 and size: kept in the downloads
 * folder by that hash, so that an offer tried again (a cut, a restart) does not fetch it twice.
 */
export async function fetchManifest(
  options: Omit<FetchObjectOptions, 'file' | 'object' | 'mismatch' | 'onBytes'> & {
    root: ReleaseRoot;
    manifest: ManifestRef;
  },
): Promise<Buffer> {
  const { root, manifest } = options;
  const object = join(root.downloads, manifest.sha256);
  if (!(await holds(object, manifest))) {
    await mkdir(root.downloads, { recursive: true });
    await fetchObject({
      ...options,
      file: { path: `manifest of ${manifest.version}`, sha256: manifest.sha256, size: manifest.size },
      object,
      mismatch: `the manifest of ${manifest.version} fetched does not match the SHA-256 and size in the offer`,
    });
  }
  return readFile(object);
}

export interface StageOptions {
  root: ReleaseRoot;
  manifest: ReleaseManifest;
  /** The signed manifest as it came: kept in the release folder as `release.json`. */
  envelope: unknown;
  source: ReleaseSource;
  parallel: number;
  /** How often one file's interrupted fetch is tried again (backing off) before the offer is given up. */
  retries: number;
  logger: Logger;
  signal: AbortSignal;
  onProgress?: (progress: StageProgress) => void;
}

/**
 * Builds `releases/<version>/` from the manifest: a file the running release already holds (same
 * path, same SHA-256) is copied from it, a file downloaded before (a download cut short, a restart)
 * is taken from the downloads folder, and only the rest is fetched, each resumed where it stopped.
 * Every file is checked against its SHA-256 and size before it is placed; the whole folder is flushed
 * to disk and renamed into place only when it is complete.
 */
export async function stageRelease(options: StageOptions): Promise<StageProgress> {
  const { root, manifest, logger, signal } = options;
  const staging = root.stagingDir(manifest.version);
  const target = root.releaseDir(manifest.version);
  const progress: StageProgress = { fetched: 0, total: manifest.files.reduce((sum, f) => sum + f.size, 0) };
  if (await sizeOf(join(target, 'release.json')).then((size) => size !== undefined)) return progress;
  await mkdir(staging, { recursive: true });
  await mkdir(root.downloads, { recursive: true });
  const running = await root.link('current');
  const runningDir = running ? root.releaseDir(running) : undefined;

  // What the downloads folder holds already counts as fetched: a resumed download reports its total.
  for (const file of manifest.files) {
    const had =
      (await sizeOf(join(root.downloads, file.sha256))) ??
      (await sizeOf(join(root.downloads, `${file.sha256}.part`)));
    if (had !== undefined) progress.fetched += Math.min(had, file.size);
  }
  options.onProgress?.({ ...progress });

  const objects = new Map<string, Promise<void>>();
  const place = async (file: ReleaseFile) => {
    const dest = join(staging, file.path);
    if (await holds(dest, file)) return;
    await mkdir(dirname(dest), { recursive: true });
    await rm(dest, { force: true });
    const running = runningDir && join(runningDir, file.path);
    if (running && (await holds(running, file))) {
      // Files are never written in place, so the two releases may share one: linked unless its mode differs.
      const sameMode = (((await stat(running)).mode & 0o111) !== 0) === file.executable;
      if (sameMode) await link(running, dest).catch(() => copyFile(running, dest));
      else await copyFile(running, dest);
    } else {
      const object = join(root.downloads, file.sha256);
      // Files of the same content (licences, copies of one package) are fetched once.
      let fetching = objects.get(file.sha256);
      if (!fetching) {
        fetching = holds(object, file).then((held) => (held ? undefined : download(file, object)));
        objects.set(file.sha256, fetching);
      }
      await fetching;
      await link(object, dest).catch(() => copyFile(object, dest));
    }
    await chmod(dest, file.executable ? 0o755 : 0o644);
  };

  const download = async (file: ReleaseFile, object: string) => {
    await fetchObject({
      ...options,
      file,
      object,
      mismatch: `${file.path} does not match its SHA-256 in the signed manifest`,
      onBytes: (bytes) => {
        progress.fetched += bytes;
      },
    });
    options.onProgress?.({ ...progress });
  };

  const queue = [...manifest.files];
  const workers = Array.from({ length: Math.max(1, options.parallel) }, async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      signal.throwIfAborted();
      await place(file);
    }
  });
  await Promise.all(workers);
  for (const entry of manifest.links) {
    const path = join(staging, entry.path);
    await mkdir(dirname(path), { recursive: true });
    await rm(path, { force: true });
    await symlink(entry.target, path);
  }
  for (const folder of manifest.rebuild) {
    logger.info({ folder }, 'building a native module for this device');
    await run('npm', ['rebuild', '--foreground-scripts', folder.replace(/^node_modules\//, '')], {
      cwd: staging,
      signal,
    });
  }
  await writeFile(join(staging, 'release.json'), `${JSON.stringify(options.envelope)}\n`);
  // Flushed as one: a release folder in place is complete on disk, whatever power cut follows.
  await run('sync', ['-f', staging]);
  await rename(staging, target);
  return progress;
}
