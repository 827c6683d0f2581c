import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BuiltRelease, writeReleaseArchive } from '@educard/scripts/release';
import { type FleetDevice, startFleetDevice } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleCard, sampleUid } from '@educard/terminal-sdk/testing';
import { enrollDevice } from './bridge.js';
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
