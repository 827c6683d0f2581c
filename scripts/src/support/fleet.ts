import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger, folderSource, ReleaseRoot, RosterStore, stageRelease } from '@educard/gateway';
import {
  type Ed25519KeyPair,
  ed25519,
  fromBase64Url,
  type KeyRole,
  RosterKeySet,
  releaseArchOf,
  signDocument,
} from '@educard/terminal-sdk';
import { REPO_ROOT } from '../paths.js';
import { type BuiltRelease, buildRelease } from '../release/build.js';
import { ServiceManager } from './service-manager.js';

const quiet = createLogger('fleet', { level: 'silent' });

/**
 * A release of this tree's build for this machine, signed by `signers` (named by key set 2), with the
 * files of `overlay` put in or replaced: what the tests and the benchmark roll out.
 */
export async function releaseOfThisTree(
  version: string,
  signers: Ed25519KeyPair[],
  overlay?: Record<string, string | Uint8Array>,
): Promise<BuiltRelease> {
  return buildRelease({
    source: REPO_ROOT,
    version,
    arch: releaseArchOf() ?? 'x64',
    signers,
    keySetVersion: 2,
    expiresInDays: 30,
    ...(overlay ? { overlay } : {}),
  });
}

/** The gateway's unit, or the unit its OnFailure= names, as the install script fills them in for `prefix`. */
export async function gatewayUnit(prefix: string, unit = 'educard-gateway'): Promise<string> {
  const template = await readFile(join(REPO_ROOT, `deploy/${unit}.service`), 'utf8');
  return template.replaceAll('@NODE@', process.execPath).replaceAll('@PREFIX@', prefix);
}

/** A release put in place as the committed one, as install-gateway.sh leaves a device. */
export async function installRelease(prefix: string, built: BuiltRelease): Promise<void> {
  const root = new ReleaseRoot(prefix);
  await mkdir(prefix, { recursive: true });
  await stageRelease({
    root,
    manifest: built.manifest,
    envelope: built.envelope,
    source: folderSource(join(built.dir, 'files')),
    parallel: 4,
    retries: 0,
    logger: quiet,
    signal: new AbortController().signal,
  });
  await root.point('current', built.manifest.version);
  await root.point('committed', built.manifest.version);
}

export interface FleetDevice {
  id: string;
  root: ReleaseRoot;
  dataDir: string;
  service: ServiceManager;
  /** Presents a card by its UID at the gate's reader; false while no gateway runs to take it. */
  tap(uid: string): boolean;
}

/** A school calendar closed yesterday, today and tomorrow (UTC, from the caller's clock): no bell window opens. */
export function closedCalendar(now: number) {
  const day = (offset: number) => new Date(now + offset * 86_400_000).toISOString().slice(0, 10);
  return { timeZone: 'UTC', holidays: [], closures: [day(-1), day(0), day(1)], makeUpDays: [] };
}

/** A card held to the reader for a moment and taken away, as a pupil does. */
export const tapLine = (uid: string) =>
  `${JSON.stringify({ action: 'tap', reader: 'sim-in', card: { uid }, holdMs: 1 })}\n`;

/**
 * A gateway as a technician installs it: `release` in its release root, its broker credentials, the
 * root keys pinned, run from the unit file by the stand-in of systemd (watchdog at 10 s, since a
 * shared test machine can be slow).
 */
export async function startFleetDevice(options: {
  dir: string;
  id: string;
  /** Where the device's key already is (enrollment made it there). */
  dataDir: string;
  credentials: { url: string; username: string; password: string };
  bridgeHttp: string;
  release: BuiltRelease;
  anchor: KeyRole;
  commitTimeoutMs?: number;
  logLevel?: string;
}): Promise<FleetDevice> {
  const base = join(options.dir, options.id);
  const { dataDir, credentials } = options;
  const prefix = join(base, 'opt');
  await installRelease(prefix, options.release);
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), options.anchor);
  const config = join(base, 'gateway.json');
  await writeFile(
    config,
    JSON.stringify({
      device: { id: options.id, school: 'school-1' },
      dataDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'], script: '-' },
      uplink: { ...credentials, bridgeHttp: options.bridgeHttp, backoff: { initialMs: 50, maxMs: 500 } },
      update: { root: prefix, commitTimeoutMs: options.commitTimeoutMs ?? 45_000, lockPollMs: 100 },
      log: { level: options.logLevel ?? 'info' },
    }),
  );
  const service = new ServiceManager(await gatewayUnit(prefix), join(options.dir, `${options.id}.notify`), {
    environment: { EDUCARD_CONFIG: config },
    settings: { WatchdogSec: '10' },
    onFailure: await gatewayUnit(prefix, 'educard-gateway-rollback'),
  });
  await service.start();
  await service.waitFor((line) => line.msg === 'gateway started', 120_000);
  return {
    id: options.id,
    root: new ReleaseRoot(prefix),
    dataDir,
    service,
    tap: (uid) => service.write(tapLine(uid)),
  };
}

/**
 * What `educard-bridge keys releases` does, for a development bridge that holds its root key in
 * `rootKeyFile` (its roster-keys.json): the next key set names `releases`, signed by the root.
 */
export async function nameReleaseKeys(
  bridgeHttp: string,
  adminToken: string,
  rootKeyFile: string,
  releases: KeyRole,
): Promise<RosterKeySet> {
  const root = (JSON.parse(await readFile(rootKeyFile, 'utf8')).root as string[]).map((seed) =>
    ed25519.keyPairFromSeed(fromBase64Url(seed)),
  );
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${bridgeHttp}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  const prepared = await post('/v1/keys/releases/prepare', { releases });
  const keySet = RosterKeySet.parse(prepared.keySet);
  await post('/v1/keys/keysets', { pendingId: prepared.pendingId, keySet: signDocument(keySet, root) });
  return keySet;
}
