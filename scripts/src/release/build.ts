import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';
import {
  DataFormats,
  DEFAULT_SELF_TEST,
  type Ed25519KeyPair,
  type ReleaseArch,
  type ReleaseFile,
  type ReleaseLink,
  type ReleaseManifest,
  releaseArchOf,
  type SelfTestTap,
  type SignedEnvelope,
  SPEC_VERSION,
  signRelease,
} from '@educard/terminal-sdk';
import * as tar from 'tar';
import { SERVICES, servicePackageJson } from '../package/stage.js';

const run = promisify(execFile);

export interface ReleaseInput {
  /** The checkout to build from (built: gateway/dist and terminal-sdk/dist present). */
  source: string;
  version: string;
  arch: ReleaseArch;
  signers: Ed25519KeyPair[];
  keySetVersion: number;
  /** How long the release may be installed: a release past it is refused (TUF's freeze). */
  expiresInDays: number;
  now?: Date;
  selfTest?: SelfTestTap[];
  /** Files replaced or added in the release, by path: a fix shipped without rebuilding the rest. */
  overlay?: Record<string, string | Uint8Array>;
}

export interface BuiltRelease {
  manifest: ReleaseManifest;
  envelope: SignedEnvelope<ReleaseManifest>;
  /** A folder holding `manifest.json` and `files/<sha256>`: what the archive packs. */
  dir: string;
  /** Bytes of all the release's files. */
  bytes: number;
}

/** Files of a built workspace a device needs: compiled JavaScript and the pages, not types or maps. */
const SHIPPED = (path: string) =>
  !/\.(d\.ts|d\.ts\.map|js\.map|tsbuildinfo)$/.test(path) && !/\.test\.js$/.test(path);

async function walk(
  dir: string,
  keep: (path: string) => boolean,
  skipDirs: Set<string> = new Set(),
): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skipDirs.has(entry.name)) found.push(...(await walk(path, keep, skipDirs)));
    } else if ((entry.isFile() || entry.isSymbolicLink()) && keep(path)) found.push(path);
  }
  return found;
}

/**
 * The gateway's production packages, as npm resolves them from the lockfile: `npm ls` of the gateway
 * workspace without its development packages (each a folder under node_modules; nested folders of a
 * package are listed on their own).
 */
const packagesOf = new Map<string, Promise<string[]>>();
function productionPackages(source: string): Promise<string[]> {
  let found = packagesOf.get(source);
  if (!found) {
    found = listProductionPackages(source);
    packagesOf.set(source, found);
  }
  return found;
}

async function listProductionPackages(source: string): Promise<string[]> {
  const { stdout } = await run(
    'npm',
    ['ls', '--workspace', 'gateway', '--omit=dev', '--all', '--parseable'],
    { cwd: source, maxBuffer: 16 * 1024 * 1024 },
  ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return [...new Set(stdout.split('\n').filter(Boolean))]
    .map((path) => relative(source, path).split(sep).join('/'))
    .filter((path) => path.startsWith('node_modules/') && !path.startsWith('node_modules/@educard/'))
    .sort();
}

/**
 * Builds a gateway release from a checkout: its production files as content-addressed files and the
 * manifest that lists them, signed with the release keys. Native modules are shipped built when the
 * release is for this machine's architecture; for another, the manifest names them to be built on the
 * device and their build output stays out.
 */
export async function buildRelease(input: ReleaseInput): Promise<BuiltRelease> {
  const { source } = input;
  const native = input.arch === releaseArchOf();
  const contents = new Map<string, { from?: string; data?: Uint8Array; executable: boolean }>();
  const rebuild: string[] = [];

  const gatewayPackage = JSON.parse(await readFile(join(source, 'gateway/package.json'), 'utf8'));
  gatewayPackage.version = input.version;
  // The device's package.json is the one install-gateway.sh writes.
  contents.set('package.json', {
    data: Buffer.from(await servicePackageJson(source, SERVICES.gateway.workspaces)),
    executable: false,
  });
  contents.set('gateway/package.json', {
    data: Buffer.from(`${JSON.stringify(gatewayPackage, null, 2)}\n`),
    executable: false,
  });
  contents.set('terminal-sdk/package.json', {
    from: join(source, 'terminal-sdk/package.json'),
    executable: false,
  });
  for (const workspace of ['gateway', 'terminal-sdk']) {
    for (const path of await walk(join(source, workspace, 'dist'), SHIPPED)) {
      const mode = (await stat(path)).mode;
      contents.set(relative(source, path).split(sep).join('/'), {
        from: path,
        executable: (mode & 0o111) !== 0,
      });
    }
  }
  for (const folder of await productionPackages(source)) {
    const dir = join(source, folder);
    const builtHere = await stat(join(dir, 'binding.gyp')).then(
      () => true,
      () => false,
    );
    if (builtHere && !native) rebuild.push(folder);
    const skip = new Set(['node_modules', ...(builtHere && !native ? ['build'] : [])]);
    for (const path of await walk(dir, () => true, skip)) {
      const info = await lstat(path);
      if (info.isSymbolicLink()) continue;
      contents.set(relative(source, path).split(sep).join('/'), {
        from: path,
        executable: (info.mode & 0o111) !== 0,
      });
    }
  }
  for (const [path, data] of Object.entries(input.overlay ?? {}))
    contents.set(path, {
      data: typeof data === 'string' ? Buffer.from(data) : data,
      executable: contents.get(path)?.executable ?? false,
    });

  const dir = await mkdtemp(join(tmpdir(), `educard-release-${input.version}-`));
  await mkdir(join(dir, 'files'));
  const files: ReleaseFile[] = [];
  let bytes = 0;
  for (const [path, content] of [...contents].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const { sha256, size } = content.data ? digest(content.data) : await digestFile(content.from as string);
    const object = join(dir, 'files', sha256);
    if (!(await stat(object).catch(() => undefined))) {
      // A copy, not a link: a rebuild of the tree rewrites its files in place.
      if (content.from) await copyFile(content.from, object, constants.COPYFILE_FICLONE);
      else await writeFile(object, content.data as Uint8Array);
    }
    files.push({ path, sha256, size, executable: content.executable });
    bytes += size;
  }
  const links: ReleaseLink[] = [];
  for (const name of ['gateway', 'terminal-sdk']) {
    const path = `node_modules/@educard/${name}`;
    links.push({ path, target: await readlink(join(source, path)).catch(() => `../../${name}`) });
  }
  const now = input.now ?? new Date();
  const engines = String(gatewayPackage.engines?.node ?? '>=20.19').replace(/^[^\d]*/, '');
  const manifest: ReleaseManifest = {
    type: 'gateway-release',
    spec: SPEC_VERSION,
    version: input.version,
    arch: input.arch,
    node: engines.split('.').length === 2 ? `${engines}.0` : engines,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + input.expiresInDays * 86_400_000).toISOString(),
    keySetVersion: input.keySetVersion,
    entry: 'gateway/dist/main.js',
    files,
    links,
    rebuild,
    formats: DataFormats.parse(gatewayPackage.dataFormats),
    selfTest: input.selfTest ?? DEFAULT_SELF_TEST,
  };
  const envelope = signRelease(manifest, input.signers);
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(envelope)}\n`);
  return { manifest, envelope, dir, bytes };
}

const digest = (data: Uint8Array) => ({
  sha256: createHash('sha256').update(data).digest('hex'),
  size: data.length,
});

/** Digests of files already read in this process, by path, size and time: building several releases reads each once. */
const digests = new Map<string, { stamp: string; sha256: string; size: number }>();
async function digestFile(path: string): Promise<{ sha256: string; size: number }> {
  const info = await stat(path);
  const stamp = `${info.size}:${info.mtimeMs}`;
  const held = digests.get(path);
  if (held?.stamp === stamp) return held;
  const made = { stamp, ...digest(await readFile(path)) };
  digests.set(path, made);
  return made;
}

/**
 * The release archive: a tar of `manifest.json` and `files/`, which the bridge stores file by file.
 * With `base`, the files of that release are left out: an archive for a bridge that holds it already.
 */
export async function writeReleaseArchive(
  release: BuiltRelease,
  file: string,
  base?: ReleaseManifest,
): Promise<void> {
  const held = new Set(base?.files.map((f) => f.sha256));
  const files = [...new Set(release.manifest.files.map((f) => f.sha256))].filter((sha) => !held.has(sha));
  await tar.c({ file, cwd: release.dir, portable: true }, [
    'manifest.json',
    ...files.map((sha) => `files/${sha}`),
  ]);
}

export const archiveName = (manifest: Pick<ReleaseManifest, 'version' | 'arch'>) =>
  `educard-gateway-${manifest.version}-${manifest.arch}.tar`;

export async function removeRelease(release: BuiltRelease): Promise<void> {
  await rm(release.dir, { recursive: true, force: true });
}
