import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ReleaseArch, ReleaseVersion, releaseArchOf } from '@educard/terminal-sdk';
import { parseCommandLine, usageFailure } from '../command-line.js';
import { REPO_ROOT } from '../paths.js';
import { archiveName, buildRelease, removeRelease, writeReleaseArchive } from './build.js';
import { makeReleaseKey, readReleaseKeys } from './keys.js';

const USAGE = `usage: npm run release -- --version V --key FILE [--key FILE…] [--arch x64|arm64|armhf]
                          [--out DIR] [--expires-days N] [--key-set-version N] [--json]
       npm run release -- keygen --out FILE

Builds a gateway release from this checkout (run npm run build first): the gateway's production
files and packages as content-addressed files and a manifest signed with the release key(s), packed
as educard-gateway-V-ARCH.tar for \`educard-bridge releases add\`. For another architecture than
this machine's, native modules are left to be built on the device. \`keygen\` makes a release key
(keep it offline) and the public part the root puts in the key set (docs/updates.md).

example: npm run release -- --version 0.2.0 --arch arm64 --key /media/usb/release-key.json`;

async function main(): Promise<number> {
  const parsed = parseCommandLine(
    {
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        version: { type: 'string' },
        arch: { type: 'string', default: releaseArchOf() ?? 'x64' },
        key: { type: 'string', multiple: true },
        out: { type: 'string' },
        'expires-days': { type: 'string', default: '365' },
        'key-set-version': { type: 'string', default: '1' },
        json: { type: 'boolean' },
      },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const bad = (message: string) => usageFailure(`error: ${message}`, USAGE);
  if (positionals[0] === 'keygen') {
    if (typeof values.out !== 'string') return bad('keygen needs --out FILE');
    const made = await makeReleaseKey(resolve(values.out));
    process.stdout.write(
      values.json
        ? `${JSON.stringify(made)}\n`
        : `release key ${made.keyId} in ${values.out} (keep it offline); its public role in ${made.publicRole}\n`,
    );
    return 0;
  }
  if (positionals.length) return bad(`unknown command ${positionals[0]}`);
  const version = ReleaseVersion.safeParse(values.version);
  if (!version.success) return bad('--version must be MAJOR.MINOR.PATCH, e.g. 0.2.0');
  const arch = ReleaseArch.safeParse(values.arch);
  if (!arch.success) return bad(`--arch must be one of ${ReleaseArch.options.join(', ')}`);
  const keys = values.key as string[] | undefined;
  if (!keys?.length) return bad('--key FILE is needed (a release key file: npm run release -- keygen)');
  const days = Number(values['expires-days']);
  const keySetVersion = Number(values['key-set-version']);
  if (!Number.isInteger(days) || days < 1) return bad('--expires-days must be a whole number of days');
  if (!Number.isInteger(keySetVersion) || keySetVersion < 1)
    return bad('--key-set-version must be 1 or more');
  let signers: Awaited<ReturnType<typeof readReleaseKeys>>;
  try {
    signers = (await Promise.all(keys.map((file) => readReleaseKeys(resolve(file))))).flat();
  } catch (error) {
    return bad((error as Error).message);
  }
  const release = await buildRelease({
    source: REPO_ROOT,
    version: version.data,
    arch: arch.data,
    signers,
    keySetVersion,
    expiresInDays: days,
  });
  try {
    const out = resolve(typeof values.out === 'string' ? values.out : join(REPO_ROOT, 'releases'));
    await mkdir(out, { recursive: true });
    const file = join(out, archiveName(release.manifest));
    await writeReleaseArchive(release, file);
    const summary = {
      file,
      version: release.manifest.version,
      arch: release.manifest.arch,
      files: release.manifest.files.length,
      bytes: release.bytes,
      rebuild: release.manifest.rebuild,
      expiresAt: release.manifest.expiresAt,
    };
    process.stdout.write(
      values.json
        ? `${JSON.stringify(summary)}\n`
        : `${file}: gateway ${summary.version} for ${summary.arch}, ${summary.files} files, ${(summary.bytes / 1e6).toFixed(1)} MB${summary.rebuild.length ? `; built on the device: ${summary.rebuild.join(', ')}` : ''}\n`,
    );
  } finally {
    await removeRelease(release);
  }
  return 0;
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(`error: ${(error as Error).message}\n`);
  return 1;
});
