import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DEFAULT_SELF_TEST,
  generateKeyPair,
  keyRole,
  type ReleaseOffer,
  type RosterKeySet,
  releaseArchOf,
  signRelease,
} from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { type DeviceProgress, stagedManifest, UpdateAgent } from './agent.js';
import { UpdateConfig } from './config.js';
import { FIRMWARE } from './firmware.js';
import { ReleaseRoot } from './layout.js';
import { bridgeSource } from './stage.js';

const FILES = '/v1/releases/files/';
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

const releaseKeys = [generateKeyPair()];
const keySet: RosterKeySet = {
  type: 'roster-keyset',
  spec: 1,
  version: 1,
  issuedAt: new Date().toISOString(),
  root: keyRole([generateKeyPair()]),
  roster: keyRole([generateKeyPair()]),
  releases: keyRole(releaseKeys),
};

const file = randomBytes(50_000);
/** A signed manifest of one file, dated from the real clock, as the bridge serves it. */
const manifestBytes = Buffer.from(
  JSON.stringify(
    signRelease(
      {
        type: 'gateway-release',
        spec: 1,
        version: '9.0.0',
        arch: releaseArchOf() ?? 'x64',
        node: '20.0.0',
        issuedAt: new Date(Date.now() - 60_000).toISOString(),
        expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
        keySetVersion: 1,
        entry: 'gateway/dist/main.js',
        files: [{ path: 'gateway/dist/main.js', sha256: sha256(file), size: file.length, executable: false }],
        links: [],
        rebuild: [],
        formats: FIRMWARE.dataFormats,
        selfTest: DEFAULT_SELF_TEST,
      },
      releaseKeys,
    ),
  ),
);

function offerOf(manifest: Partial<ReleaseOffer['manifest']> = {}): ReleaseOffer {
  const now = Date.now();
  return {
    v: 1,
    kind: 'offer',
    rollout: 'r1',
    manifest: {
      version: '9.0.0',
      sha256: sha256(manifestBytes),
      size: manifestBytes.length,
      from: FILES,
      ...manifest,
    },
    files: FILES,
    allowOneWay: false,
    quiet: [],
    quietUntil: new Date(now + 86_400_000).toISOString(),
    at: new Date(now).toISOString(),
  };
}

/** The bridge's release files: what each SHA-256 is answered with, and every request made. */
let served: Map<string, Buffer>;
let requests: string[];
let server: Server;
let dir: string;
let agents: UpdateAgent[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-'));
  served = new Map([
    [sha256(manifestBytes), manifestBytes],
    [sha256(file), file],
  ]);
  requests = [];
  agents = [];
  server = createServer((request, response) => {
    const name = (request.url ?? '').slice(FILES.length);
    requests.push(name);
    const body = served.get(name);
    if (body) response.writeHead(200).end(body);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  for (const agent of agents) agent.stop();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** An agent on the test's release root that may never switch (a card stays on a reader). */
async function startAgent() {
  const { port } = server.address() as AddressInfo;
  const progress: DeviceProgress[] = [];
  const events: { type: string; data: Record<string, unknown> }[] = [];
  const agent = new UpdateAgent({
    config: UpdateConfig.parse({ root: dir, lockPollMs: 20, downloadRetries: 0 }),
    root: new ReleaseRoot(dir),
    logger: createLogger('agent-test', { level: 'silent' }),
    now: Date.now,
    keySet: () => keySet,
    record: (event) => events.push(event),
    flush: async () => undefined,
    report: (message) => progress.push(message),
    source: (files) => bridgeSource(new URL(files, `http://127.0.0.1:${port}`), {}),
    busy: () => 'a card is on a reader',
    baseline: () => ({ readers: [], uplink: false, rosterVersion: 0, lastSeq: 0 }),
    live: () => {
      throw new Error('no commit check in these tests');
    },
    restart: (why) => {
      throw new Error(`no switch in these tests: ${why}`);
    },
  });
  agents.push(agent);
  await agent.start();
  return { agent, progress, events };
}

async function settled(progress: DeviceProgress[], state: DeviceProgress['state']): Promise<DeviceProgress> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    const last = progress.at(-1);
    if (last?.state === state) return last;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`never ${state}: ${JSON.stringify(progress.at(-1))}`);
}

describe('an offer names its signed manifest by hash', () => {
  it('fetches the manifest once, stages from it, and a restart or a repeated offer fetches it no more', async () => {
    const first = await startAgent();
    first.agent.offer(offerOf());
    expect((await settled(first.progress, 'waiting')).detail).toBe('a card is on a reader');
    expect(requests.sort()).toEqual([sha256(file), sha256(manifestBytes)].sort());

    // Fresher quiet windows for the update under way: taken without a fetch.
    first.agent.offer(offerOf());
    first.agent.stop();

    const again = await startAgent();
    expect((await settled(again.progress, 'waiting')).version).toBe('9.0.0');
    expect(requests).toHaveLength(2);
    expect((await stagedManifest(new ReleaseRoot(dir), '9.0.0'))?.version).toBe('9.0.0');
  });

  it('refuses and reports a manifest whose bytes do not match the hash in the offer', async () => {
    // One byte changed inside the signed document, the size kept.
    const tampered = Buffer.from(manifestBytes.toString('utf8').replace('"9.0.0"', '"9.0.9"'));
    served.set(sha256(manifestBytes), tampered);
    const { agent, progress, events } = await startAgent();
    agent.offer(offerOf());
    const refused = await settled(progress, 'refused');
    expect(refused.detail).toMatch(/^tampered: the manifest of 9\.0\.0 fetched does not match the SHA-256/);
    expect(events).toEqual([
      expect.objectContaining({
        type: 'update.failed',
        data: expect.objectContaining({ version: '9.0.0', stage: 'download', rollout: 'r1' }),
      }),
    ]);
    // Nothing of the release was fetched or kept, and the retained offer is not tried again.
    expect(requests).toEqual([sha256(manifestBytes)]);
    expect(await readdir(new ReleaseRoot(dir).downloads)).toEqual([]);
    agent.offer(offerOf());
    expect((await settled(progress, 'rolled-back')).detail).toMatch(/tampered/);
    expect(requests).toHaveLength(1);
  });

  it('refuses a manifest longer than the offer says, without keeping what came', async () => {
    served.set(sha256(manifestBytes), Buffer.concat([manifestBytes, randomBytes(100_000)]));
    const { agent, progress } = await startAgent();
    agent.offer(offerOf());
    expect((await settled(progress, 'refused')).detail).toMatch(/^tampered: the bridge sent more than/);
    expect(requests).toEqual([sha256(manifestBytes)]);
  });

  it('drops an offer it kept from a release of the contract before (the manifest in the offer), and waits', async () => {
    const root = new ReleaseRoot(dir);
    const { manifest: _named, ...rest } = offerOf();
    const kept = { ...rest, manifest: JSON.parse(manifestBytes.toString('utf8')) };
    await root.writeState({
      ...(await root.readState()),
      phase: 'staged',
      rollout: 'r1',
      version: '9.0.0',
      offer: kept as never,
    });
    await startAgent();
    expect(await root.readState()).toMatchObject({ phase: 'idle', offer: undefined });
    expect(requests).toEqual([]);
  });

  it('refuses an offer whose version is not the one its signed manifest names', async () => {
    const { agent, progress } = await startAgent();
    agent.offer(offerOf({ version: '9.0.1' }));
    expect((await settled(progress, 'refused')).detail).toBe(
      'tampered: the offer names 9.0.1, the signed manifest it points at is 9.0.0',
    );
    expect(requests).toEqual([sha256(manifestBytes)]);
  });
});
