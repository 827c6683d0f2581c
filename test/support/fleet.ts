import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FIRMWARE } from '@educard/gateway';
import { type BuiltRelease, writeReleaseArchive } from '@educard/scripts/release';
import { type FleetDevice, startFleetDevice } from '@educard/scripts/support';
import {
  DEFAULT_SELF_TEST,
  type Ed25519KeyPair,
  type KeyRole,
  type ReleaseManifest,
  SPEC_VERSION,
  signRelease,
} from '@educard/terminal-sdk';
import { sampleCard, sampleUid } from '@educard/terminal-sdk/testing';
import { ADMIN_TOKEN, enrollDevice } from './bridge.js';
import { REPO_ROOT } from './processes.js';

/** Files of a release made to misbehave, from this tree's build: what a broken release looks like. */
export async function faultOverlay(
  fault: 'exits' | 'hangs' | 'denies' | 'large',
): Promise<Record<string, string | Uint8Array>> {
  const main = await readFile(join(REPO_ROOT, 'gateway/dist/main.js'), 'utf8');
  const [shebang, ...rest] = main.split('\n');
  const ready = "const stopNotifying = notifySystemd(logger, 'gateway running');";
  if (!main.includes(ready))
    throw new Error('main.js no longer tells systemd it is ready as this fault expects');
  switch (fault) {
    case 'exits':
      return { 'gateway/dist/main.js': [shebang, 'process.exit(3);', ...rest].join('\n') };
    case 'hangs':
      // Starts and says so, then its event loop stops before its check can pass: only the watchdog can tell.
      return {
        'gateway/dist/main.js': main.replace(ready, `${ready}\nsetTimeout(() => { for (;;) {} }, 0);`),
      };
    case 'denies': {
      const decide = await readFile(join(REPO_ROOT, 'gateway/dist/policy/decide.js'), 'utf8');
      const grant =
        "return { decision: 'grant', reason: 'ok', flags, cardId: card.cardId, credential, card };";
      if (!decide.includes(grant)) throw new Error('decide.js no longer grants as this fault expects');
      return { 'gateway/dist/policy/decide.js': decide.replace(grant, "return refuse('not-in-zone');") };
    }
    case 'large':
      // A new 3 MB file (a native module, say): a download long enough to be cut.
      return { 'gateway/dist/update-test-payload.bin': randomBytes(3 * 1024 * 1024) };
  }
}

/** The archive of a release for `releases add`: without the files of `base`, which the bridge has already. */
export async function archive(dir: string, built: BuiltRelease, base?: BuiltRelease): Promise<string> {
  const file = join(dir, `gateway-${built.manifest.version}.tar`);
  await writeReleaseArchive(built, file, base?.manifest);
  return file;
}

/** Cards valid around the clock of the test, at the main gate at any hour. */
export function fleetCards(count: number, now = Date.now()) {
  return Array.from({ length: count }, (_, i) =>
    sampleCard(i + 1, {
      validFrom: new Date(now - 86_400_000).toISOString(),
      validUntil: new Date(now + 30 * 86_400_000).toISOString(),
      schedules: [],
    }),
  );
}

export const uidOf = (n: number) => sampleUid(n);

/** A gateway installed on `release`, enrolled with the bridge as a technician does, run from its unit. */
export async function startEnrolledDevice(options: {
  dir: string;
  id: string;
  bridgeHttp: string;
  release: BuiltRelease;
  anchor: KeyRole;
  commitTimeoutMs?: number;
}): Promise<FleetDevice> {
  const dataDir = join(options.dir, options.id, 'data');
  const { url, username, password } = await enrollDevice(options.bridgeHttp, dataDir, options.id);
  return startFleetDevice({ ...options, dataDir, credentials: { url, username, password } });
}

/**
 * A release of one small file (`content`, "gateway VERSION" by default) for x64, signed by `signers`
 * (named by key set 2) around `now`, added to the bridge: what the rollout tests offer.
 */
export async function addSmallRelease(options: {
  bridgeHttp: string;
  dir: string;
  version: string;
  signers: Ed25519KeyPair[];
  now: number;
  content?: Uint8Array;
}): Promise<ReleaseManifest> {
  const { dir, version, now } = options;
  const folder = join(dir, `release-${version}`);
  await mkdir(join(folder, 'files'), { recursive: true });
  const content = options.content ?? Buffer.from(`gateway ${version}\n`);
  const sha256 = createHash('sha256').update(content).digest('hex');
  await writeFile(join(folder, 'files', sha256), content);
  const manifest: ReleaseManifest = {
    type: 'gateway-release',
    spec: SPEC_VERSION,
    version,
    arch: 'x64',
    node: '20.19.0',
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 30 * 86_400_000).toISOString(),
    keySetVersion: 2,
    entry: 'gateway/dist/main.js',
    files: [{ path: 'gateway/dist/main.js', sha256, size: content.length, executable: true }],
    links: [],
    rebuild: [],
    formats: FIRMWARE.dataFormats,
    selfTest: DEFAULT_SELF_TEST,
  };
  const envelope = signRelease(manifest, options.signers);
  await writeFile(join(folder, 'manifest.json'), JSON.stringify(envelope));
  const file = join(dir, `${version}.tar`);
  await writeReleaseArchive({ manifest, envelope, dir: folder, bytes: content.length }, file);
  const response = await fetch(`${options.bridgeHttp}/v1/releases`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/x-tar' },
    body: await readFile(file),
  });
  if (!response.ok) throw new Error(`release ${version} not added: ${await response.text()}`);
  return manifest;
}
