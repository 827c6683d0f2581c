import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { nameReleaseKeys, until } from '@educard/scripts/support';
import { generateKeyPair, keyRole } from '@educard/terminal-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enrollDevice, startBridge } from '../support/bridge.js';
import { addSmallRelease } from '../support/fleet.js';

/**
 * The bridge's bound on the release downloads it serves at once (`releases.maxDownloads`), beside each
 * device's: a device turned away is told to come back (429, Retry-After), and gets the file once a
 * download has ended. A real bridge in this process; devices by their enrollment credentials.
 */
let dir: string;
let bridge: Bridge;
let file: string;
const basic: string[] = [];

const download = (device: number, signal?: AbortSignal) =>
  fetch(`${bridge.httpUrl}/v1/releases/files/${file}`, {
    headers: { authorization: basic[device] as string },
    ...(signal ? { signal } : {}),
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'release-downloads-'));
  const now = Date.now();
  bridge = await startBridge(join(dir, 'bridge'), {
    // One download at a time, 1 KB/s: the first one stays open for the whole test unless cut.
    releases: { maxDownloads: 1, maxDownloadsPerDevice: 1, deviceBytesPerSecond: 1024 },
  });
  const releaseKey = [generateKeyPair()];
  await nameReleaseKeys(
    bridge.httpUrl,
    ADMIN_TOKEN,
    join(dir, 'bridge', 'roster-keys.json'),
    keyRole(releaseKey),
  );
  const manifest = await addSmallRelease({
    bridgeHttp: bridge.httpUrl,
    dir,
    version: '1.1.0',
    signers: releaseKey,
    now,
    content: randomBytes(256 * 1024),
  });
  file = manifest.files[0]?.sha256 as string;
  for (const id of ['gate-a', 'gate-b']) {
    const { username, password } = await enrollDevice(bridge.httpUrl, join(dir, id), id);
    basic.push(`Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
  }
}, 120_000);

afterAll(async () => {
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('release downloads on a busy bridge', () => {
  it('turns a device away while the bridge serves its bound, and serves it once that download ends', async () => {
    const cut = new AbortController();
    const first = await download(0, cut.signal);
    expect(first.status).toBe(200);
    const reader = first.body?.getReader();
    await reader?.read();

    const turned = await download(1);
    expect(turned.status).toBe(429);
    const wait = Number(turned.headers.get('retry-after'));
    expect(wait).toBeGreaterThanOrEqual(1);
    expect(wait).toBeLessThanOrEqual(5);
    expect(await turned.json()).toMatchObject({ error: 'busy', message: /the bridge serves 1 downloads/ });

    // The first device's own second download is turned away by the same bound.
    const again = await download(0);
    expect(again.status).toBe(429);
    await again.body?.cancel();

    cut.abort();
    await reader?.cancel().catch(() => undefined);
    const served = await until(
      async () => {
        const response = await download(1, AbortSignal.timeout(2_000));
        if (response.status === 200) return response;
        await response.body?.cancel();
        return undefined;
      },
      { what: 'the download after the first one was cut', timeoutMs: 20_000, everyMs: 100 },
    );
    const started = await served.body?.getReader().read();
    expect(started?.value?.length).toBeGreaterThan(0);
    // The cut download was counted off once, not once per end it has (its stream and its socket).
    const third = await download(0);
    expect(third.status).toBe(429);
    await third.body?.cancel();
  });
});
