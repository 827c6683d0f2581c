import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HotlistSnapshotMessage, SPEC_VERSION, type SyncReply, topics } from '@educard/terminal-sdk';
import { TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HotlistStore } from '../hotlist/index.js';
import { createLogger } from '../log/index.js';
import { RosterStore } from '../roster/index.js';
import { UplinkConfig } from './config.js';
import { SignedFeeds } from './feeds.js';

// A venue's feeds with its real roster and hotlist stores, the messages handed over as the uplink
// would hand them, and hotlist bodies served over HTTP as the bridge serves them. The real clock:
// every date is derived from it.

const SCHOOL = 'museum';
const DEVICE = 'museum-gw';
const logger = createLogger('feeds-test', { level: 'silent' });

let dir: string;
let authority: TestAuthority;
let roster: RosterStore;
let hotlist: HotlistStore;
let feeds: SignedFeeds;
let server: Server;
const bodies = new Map<string, Uint8Array>();

const envelope = (bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString('utf8'));

/** A hotlist snapshot's message, its body served at the URL it names. */
function snapshotMessage(by: TestAuthority, version: number): HotlistSnapshotMessage {
  const issued = by.hotlist(version, [
    { cardNumber: `E${String(version).padStart(9, '0')}`, status: 'lost' },
  ]);
  const url = `/v1/hotlist/snapshots/${version}`;
  bodies.set(url, issued.body);
  return { v: SPEC_VERSION, manifest: envelope(issued.manifest), url };
}

const reply = (parts: Partial<SyncReply>): SyncReply => ({
  v: SPEC_VERSION,
  device: DEVICE,
  bdSeq: 1,
  at: new Date().toISOString(),
  ...parts,
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'feeds-'));
  authority = new TestAuthority(SCHOOL);
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  roster = await RosterStore.open({
    dir: join(dir, 'roster'),
    school: SCHOOL,
    device: DEVICE,
    logger,
    now: Date.now,
  });
  hotlist = await HotlistStore.open({
    dir: join(dir, 'hotlist'),
    logger,
    keySets: () => roster.keySetChain,
    now: Date.now,
  });
  server = createServer((request, response) => {
    const body = bodies.get(request.url ?? '');
    if (!body) response.writeHead(404).end();
    else response.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  feeds = new SignedFeeds({
    config: UplinkConfig.parse({
      url: 'mqtt://127.0.0.1:1883',
      bridgeHttp: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    }),
    device: DEVICE,
    school: SCHOOL,
    roster,
    acceptRoster: (manifest, body) => roster.accept(manifest, body),
    venue: {
      hotlist: { accept: (manifest, body) => hotlist.accept(manifest, body), version: () => hotlist.version },
      plan: { accept: async () => undefined, version: () => 0 },
    },
    logger,
  });
});
afterEach(async () => {
  feeds.stop();
  bodies.clear();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

describe("a venue's signed feeds", () => {
  it('takes the same key sets arriving on their topic and in a sync answer at once', async () => {
    const first = authority.keySet();
    const keySets = { v: SPEC_VERSION, keySets: [envelope(first), envelope(authority.rotateRosterKey())] };
    // Both start before either has written a key set: each must see what the other took.
    await Promise.all([
      feeds.onMessage(topics.districtKeySets(), Buffer.from(JSON.stringify(keySets))),
      feeds.applySync(reply({ keySets })),
    ]);
    expect(roster.keySetVersion).toBe(2);
  });

  it('applies the rest of a sync answer when one of its parts is refused', async () => {
    const keySets = { v: SPEC_VERSION, keySets: [envelope(authority.keySet())] };
    // A roster delta signed by a key no key set names: refused, and the hotlist after it still taken.
    const stranger = new TestAuthority(SCHOOL).delta(0, 1, []);
    const rosterDelta = {
      v: SPEC_VERSION,
      manifest: envelope(stranger.manifest),
      body: Buffer.from(stranger.body).toString('base64'),
    };
    await expect(
      feeds.applySync(reply({ keySets, rosterDelta, hotlist: snapshotMessage(authority, 3) })),
    ).rejects.toThrow(/delta|key|sign/);
    await expect.poll(() => hotlist.version).toBe(3);
  });

  it('takes the genuine hotlist when a higher version that no key verifies was heard first', async () => {
    const keySets = { v: SPEC_VERSION, keySets: [envelope(authority.keySet())] };
    const forged = snapshotMessage(new TestAuthority(SCHOOL), 1000);
    await feeds.onMessage(topics.hotlistSnapshot(), Buffer.from(JSON.stringify(forged)));
    await feeds.applySync(reply({ keySets, hotlist: snapshotMessage(authority, 2) }));
    await expect.poll(() => hotlist.version).toBe(2);
  });
});
