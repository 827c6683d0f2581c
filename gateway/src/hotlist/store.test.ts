import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair } from '@educard/terminal-sdk';
import { TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { expectRejected, provisionedRoster } from '../roster/fixture.js';
import { RosterStore } from '../roster/index.js';
import { HotlistStore } from './index.js';

// The hotlist is checked against the key sets the roster store trusts: a real roster store, a test
// authority, the real clock (every date derived from it).

const logger = createLogger('hotlist-test', { level: 'silent' });
const DAY = 86_400_000;
let dir: string;
let authority: TestAuthority;
let roster: RosterStore;

const card = (n: number) => `E${String(n).padStart(9, '0')}`;
const lost = (...ns: number[]) => ns.map((n) => ({ cardNumber: card(n), status: 'lost' as const }));

const open = (now = () => Date.now()) =>
  HotlistStore.open({ dir: join(dir, 'hotlist'), logger, keySets: () => roster.keySetChain, now });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hotlist-'));
  authority = new TestAuthority('venue-1');
  roster = await provisionedRoster(join(dir, 'roster'), authority, {
    school: 'venue-1',
    device: 'venue-gw',
    logger,
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the hotlist store', () => {
  it('applies a snapshot, then deltas in order, and keeps them across a restart', async () => {
    const store = await open();
    const v1 = authority.hotlist(1, lost(1, 2));
    expect(await store.accept(v1.manifest, v1.body)).toEqual({
      status: 'applied',
      version: 1,
      kind: 'snapshot',
      entries: 2,
    });
    expect(await store.accept(v1.manifest, v1.body)).toEqual({ status: 'unchanged', version: 1 });
    const v2 = authority.hotlist(2, [{ cardNumber: card(1), status: 'removed' }, ...lost(3)], {
      fromVersion: 1,
    });
    await store.accept(v2.manifest, v2.body);
    const v3 = authority.hotlist(3, [{ cardNumber: card(2), status: 'cancelled' }], { fromVersion: 2 });
    await store.accept(v3.manifest, v3.body);
    const lookups = (s: HotlistStore) => [1, 2, 3, 4].map((n) => s.view?.table.lookup(card(n)));
    expect(lookups(store)).toEqual([undefined, 'cancelled', 'lost', undefined]);
    const again = await open();
    expect(again.version).toBe(3);
    expect(lookups(again)).toEqual([undefined, 'cancelled', 'lost', undefined]);
  });

  it('fetches a body only once its manifest is worth it, and a new snapshot replaces the files before it', async () => {
    const store = await open();
    const v1 = authority.hotlist(1, lost(1));
    await store.accept(v1.manifest, v1.body);
    const v2 = authority.hotlist(2, lost(2), { fromVersion: 1 });
    await store.accept(v2.manifest, v2.body);
    let fetched = 0;
    const v5 = authority.hotlist(5, lost(7));
    await store.accept(v5.manifest, async () => {
      fetched += 1;
      return v5.body;
    });
    await store.accept(v5.manifest, async () => {
      fetched += 1;
      return v5.body;
    });
    expect(fetched).toBe(1);
    expect((await readdir(join(dir, 'hotlist'))).sort()).toEqual([
      'snapshot-0000000005.body.bin',
      'snapshot-0000000005.manifest.json',
    ]);
    expect(store.view?.table.lookup(card(1))).toBeUndefined();
  });

  it('refuses a forged, rolled-back, expired, altered or ill-fitting hotlist, and keeps the one in force', async () => {
    const store = await open();
    const v3 = authority.hotlist(3, lost(1));
    await store.accept(v3.manifest, v3.body);
    const forged = authority.hotlist(4, [], { signers: [generateKeyPair()] });
    await expectRejected(store.accept(forged.manifest, forged.body), 'unknown-key');
    const older = authority.hotlist(2, []);
    await expectRejected(store.accept(older.manifest, older.body), 'rollback');
    const expired = authority.hotlist(4, [], { expiresAt: new Date(Date.now() - DAY).toISOString() });
    await expectRejected(store.accept(expired.manifest, expired.body), 'expired');
    const v4 = authority.hotlist(4, lost(1, 2));
    const altered = Buffer.from(v4.body);
    altered[altered.length - 1] = 3;
    await expectRejected(store.accept(v4.manifest, altered), 'digest-mismatch');
    await expectRejected(store.accept(v4.manifest, v4.body.subarray(1)), 'length-mismatch');
    const gap = authority.hotlist(5, lost(9), { fromVersion: 4 });
    await expectRejected(store.accept(gap.manifest, gap.body), 'out-of-order');
    const removesUnknown = authority.hotlist(4, [{ cardNumber: card(8), status: 'removed' }], {
      fromVersion: 3,
    });
    await expectRejected(store.accept(removesUnknown.manifest, removesUnknown.body), 'inconsistent');
    const otherKey = authority.hotlist(4, lost(5), { fromVersion: 3, hashKey: Buffer.alloc(16, 1) });
    await expectRejected(store.accept(otherKey.manifest, otherKey.body), 'inconsistent');
    expect(store.version).toBe(3);
    expect(store.view?.table.lookup(card(1))).toBe('lost');
    expect(store.view?.table.lookup(card(2))).toBeUndefined();
  });

  it('keeps a list signed before a key rotation, and takes new ones only from the new key', async () => {
    const store = await open();
    const v1 = authority.hotlist(1, lost(1));
    await store.accept(v1.manifest, v1.body);
    const oldKeys = authority.rosterKeys;
    await roster.acceptKeySet(authority.rotateRosterKey());
    const again = await open();
    expect(again.version).toBe(1);
    const stale = authority.hotlist(2, lost(2), { fromVersion: 1, signers: oldKeys });
    await expectRejected(again.accept(stale.manifest, stale.body), 'unknown-key');
    const v2 = authority.hotlist(2, lost(2), { fromVersion: 1 });
    expect((await again.accept(v2.manifest, v2.body)).status).toBe('applied');
  });

  it('loads the stored snapshot and the deltas up to a damaged one, and says so', async () => {
    const store = await open();
    const v1 = authority.hotlist(1, lost(1));
    await store.accept(v1.manifest, v1.body);
    const v2 = authority.hotlist(2, lost(2), { fromVersion: 1 });
    await store.accept(v2.manifest, v2.body);
    const v3 = authority.hotlist(3, lost(3), { fromVersion: 2 });
    await store.accept(v3.manifest, v3.body);
    await writeFile(join(dir, 'hotlist', 'delta-0000000002.body.bin'), 'not a hotlist');
    const again = await open();
    expect(again.version).toBe(1);
    expect(again.view?.table.lookup(card(1))).toBe('lost');
  });

  it('holds nothing on a device with no key set', async () => {
    await rm(join(dir, 'roster'), { recursive: true });
    await mkdir(join(dir, 'roster'));
    roster = await RosterStore.open({
      dir: join(dir, 'roster'),
      school: 'venue-1',
      device: 'venue-gw',
      logger,
      now: () => Date.now(),
    });
    const store = await open();
    const v1 = authority.hotlist(1, lost(1));
    await expectRejected(store.accept(v1.manifest, v1.body), 'unknown-key');
    expect(store.view).toBeUndefined();
  });
});
