import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { generateKeyPair, issueRoster } from '@educard/terminal-sdk';
import { sampleCard, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { expectRejected } from './fixture.js';
import { RosterStore } from './index.js';

const DEVICE = 'gate-01';
let dir: string;
let lines: string[];
let authority: TestAuthority;

function logger() {
  return createLogger('roster-test', {
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
}

async function openStore(now = () => Date.now()) {
  return RosterStore.open({ dir, school: 'school-1', device: DEVICE, logger: logger(), now });
}

async function provisioned() {
  await RosterStore.writeAnchor(dir, authority.anchor());
  const store = await openStore();
  await store.acceptKeySet(authority.keySet());
  return store;
}

const rosterFiles = async () =>
  (await readdir(dir)).filter((f) => f.startsWith('snapshot') || f.startsWith('delta')).sort();

const cards = (from: number, count: number) => Array.from({ length: count }, (_, i) => sampleCard(from + i));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-'));
  lines = [];
  authority = new TestAuthority('school-1');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('accepting rosters', () => {
  it('applies a snapshot, then deltas in order, and looks cards up by id and by UID', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 10));
    expect(await store.accept(v1.manifest, v1.body)).toEqual({
      status: 'applied',
      version: 1,
      kind: 'snapshot',
    });
    const d2 = authority.delta(1, 2, [
      { op: 'add', card: sampleCard(11) },
      { op: 'update', card: sampleCard(2, { zones: ['library'] }) },
      { op: 'revoke', cardId: sampleCard(3).cardId, status: 'lost' },
    ]);
    expect(await store.accept(d2.manifest, d2.body)).toEqual({
      status: 'applied',
      version: 2,
      kind: 'delta',
    });
    const view = store.view;
    expect(view?.version).toBe(2);
    expect(view?.size).toBe(11);
    expect(view?.byCardId(sampleCard(2).cardId)?.zones).toEqual(['library']);
    expect(view?.byCardId(sampleCard(3).cardId)?.status).toBe('lost');
    expect(view?.byUid(sampleCard(11).credential.uid as string)?.cardId).toBe(sampleCard(11).cardId);
  });

  it('looks a person up by their active card, and follows a reissue', async () => {
    const store = await provisioned();
    const person = sampleCard(1).personId;
    const old = sampleCard(90, { personId: person, status: 'cancelled' });
    const v1 = authority.snapshot(1, [old, sampleCard(1), sampleCard(2)]);
    await store.accept(v1.manifest, v1.body);
    expect(store.view?.byPersonId(person)?.cardId).toBe(sampleCard(1).cardId);
    const reissued = sampleCard(91, { personId: person });
    const d2 = authority.delta(1, 2, [
      { op: 'revoke', cardId: sampleCard(1).cardId, status: 'cancelled' },
      { op: 'add', card: reissued },
    ]);
    await store.accept(d2.manifest, d2.body);
    expect(store.view?.byPersonId(person)?.cardId).toBe(reissued.cardId);
    expect(store.view?.byPersonId('p-nobody')).toBeUndefined();
  });

  it('keeps why a card was cancelled (a transfer) until a later revoke gives it another status', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 2));
    await store.accept(v1.manifest, v1.body);
    const moved = { ...sampleCard(1), status: 'cancelled' as const, statusReason: 'transferred' as const };
    const d2 = authority.delta(1, 2, [{ op: 'update', card: moved }]);
    await store.accept(d2.manifest, d2.body);
    expect(store.view?.byCardId(moved.cardId)).toEqual(moved);
    const reopened = await openStore();
    expect(reopened.view?.byCardId(moved.cardId)).toEqual(moved);
    const d3 = authority.delta(2, 3, [{ op: 'revoke', cardId: moved.cardId, status: 'lost' }]);
    await reopened.accept(d3.manifest, d3.body);
    expect(reopened.view?.byCardId(moved.cardId)).toEqual({ ...sampleCard(1), status: 'lost' });
  });

  it('treats the same version again as no change', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 3));
    await store.accept(v1.manifest, v1.body);
    expect(await store.accept(v1.manifest, v1.body)).toEqual({ status: 'unchanged', version: 1 });
  });

  it('fetches a body only when the manifest is worth it', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 3));
    let fetched = 0;
    const fetch = async () => {
      fetched += 1;
      return v1.body;
    };
    await store.accept(v1.manifest, fetch);
    await store.accept(v1.manifest, fetch);
    expect(fetched).toBe(1);
  });
});

describe('refusing rosters: the roster in force stays in force', () => {
  let store: RosterStore;
  beforeEach(async () => {
    store = await provisioned();
    const v1 = authority.snapshot(5, cards(1, 5));
    await store.accept(v1.manifest, v1.body);
  });

  async function stillInForce() {
    expect(store.view?.version).toBe(5);
    expect(store.view?.size).toBe(5);
    const reopened = await openStore();
    expect(reopened.view?.version).toBe(5);
  }

  it('a bad signature', async () => {
    const v6 = authority.snapshot(6, cards(1, 6));
    const envelope = JSON.parse(Buffer.from(v6.manifest).toString());
    envelope.signed.expiresAt = new Date(Date.now() + 365 * 86_400_000).toISOString();
    await expectRejected(store.accept(Buffer.from(JSON.stringify(envelope)), v6.body), 'bad-signature');
    await stillInForce();
  });

  it('a key the device does not trust', async () => {
    const stranger = new TestAuthority('school-1', { root: authority.root, roster: [generateKeyPair()] });
    const v6 = stranger.snapshot(6, cards(1, 6));
    await expectRejected(store.accept(v6.manifest, v6.body), 'unknown-key');
    await stillInForce();
  });

  it('a body whose digest or length differs from the manifest', async () => {
    const v6 = authority.snapshot(6, cards(1, 6));
    const tampered = Buffer.from(v6.body);
    tampered[tampered.length - 3] = 0x20;
    await expectRejected(store.accept(v6.manifest, tampered), 'digest-mismatch');
    await expectRejected(
      store.accept(v6.manifest, Buffer.concat([v6.body, Buffer.from(' ')])),
      'length-mismatch',
    );
    await stillInForce();
  });

  it('a rollback to an older version', async () => {
    const v4 = authority.snapshot(4, cards(1, 2));
    await expectRejected(store.accept(v4.manifest, v4.body), 'rollback');
    await stillInForce();
  });

  it('an old delta replayed, and a delta out of order', async () => {
    const d6 = authority.delta(5, 6, [{ op: 'add', card: sampleCard(6) }]);
    const d7 = authority.delta(6, 7, [{ op: 'add', card: sampleCard(7) }]);
    await store.accept(d6.manifest, d6.body);
    await store.accept(d7.manifest, d7.body);
    await expectRejected(store.accept(d6.manifest, d6.body), 'rollback');
    const d9 = authority.delta(8, 9, [{ op: 'add', card: sampleCard(9) }]);
    await expectRejected(store.accept(d9.manifest, d9.body), 'out-of-order');
    expect(store.view?.version).toBe(7);
    expect(store.view?.size).toBe(7);
  });

  it('a delta that does not fit the roster (adds a card that exists, revokes an unknown one)', async () => {
    const exists = authority.delta(5, 6, [
      { op: 'add', card: sampleCard(7) },
      { op: 'add', card: sampleCard(1) },
    ]);
    await expectRejected(store.accept(exists.manifest, exists.body), 'inconsistent');
    const unknown = authority.delta(5, 6, [{ op: 'revoke', cardId: 'E999', status: 'lost' }]);
    await expectRejected(store.accept(unknown.manifest, unknown.body), 'inconsistent');
    expect(store.view?.byCardId(sampleCard(7).cardId)).toBeUndefined();
    await stillInForce();
  });

  it('an expired manifest', async () => {
    const v6 = authority.snapshot(6, cards(1, 6), { expiresAt: new Date(Date.now() - 1000).toISOString() });
    await expectRejected(store.accept(v6.manifest, v6.body), 'expired');
    await stillInForce();
  });

  it('a manifest for another school or another device', async () => {
    const other = new TestAuthority('school-2', { root: authority.root, roster: authority.rosterKeys });
    const v6 = other.snapshot(6, cards(1, 6));
    await expectRejected(store.accept(v6.manifest, v6.body), 'wrong-school');
    const elsewhere = authority.snapshot(6, cards(1, 6), { devices: ['gate-02'] });
    await expectRejected(store.accept(elsewhere.manifest, elsewhere.body), 'wrong-device');
    await stillInForce();
  });

  it('truncated and garbled files', async () => {
    const v6 = authority.snapshot(6, cards(1, 6));
    await expectRejected(store.accept(v6.manifest.subarray(0, 40), v6.body), 'malformed');
    await expectRejected(store.accept(Buffer.from('{"signed":{},"signatures":[]}'), v6.body), 'malformed');
    await expectRejected(store.accept(Buffer.alloc(70 * 1024, 0x20), v6.body), 'too-large');
    const garbled = issueRoster({ kind: 'snapshot', school: 'school-1', version: 6 } as never, {
      expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      keySetVersion: 1,
      signers: authority.rosterKeys,
    });
    await expectRejected(store.accept(garbled.manifest, garbled.body), 'malformed');
    await stillInForce();
    expect(lines.some((line) => line.includes('roster update rejected') && line.includes('malformed'))).toBe(
      true,
    );
  });
});

describe('on disk', () => {
  it('rebuilds the index from the signed files on start, deltas included', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 4));
    await store.accept(v1.manifest, v1.body);
    const d2 = authority.delta(1, 2, [{ op: 'revoke', cardId: sampleCard(1).cardId, status: 'cancelled' }]);
    await store.accept(d2.manifest, d2.body);
    const reopened = await openStore();
    expect(reopened.view?.version).toBe(2);
    expect(reopened.view?.byCardId(sampleCard(1).cardId)?.status).toBe('cancelled');
  });

  it('keeps the previous snapshot and the deltas after it when a snapshot replaces them, and drops what is older', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 2));
    await store.accept(v1.manifest, v1.body);
    const d2 = authority.delta(1, 2, [{ op: 'add', card: sampleCard(3) }]);
    await store.accept(d2.manifest, d2.body);
    const v3 = authority.snapshot(3, cards(1, 3));
    await store.accept(v3.manifest, v3.body);
    expect(await rosterFiles()).toEqual([
      'delta-0000000002.body.json',
      'delta-0000000002.manifest.json',
      'snapshot-0000000001.body.json',
      'snapshot-0000000001.manifest.json',
      'snapshot-0000000003.body.json',
      'snapshot-0000000003.manifest.json',
    ]);
    const v4 = authority.snapshot(4, cards(1, 4));
    await store.accept(v4.manifest, v4.body);
    expect(await rosterFiles()).toEqual([
      'snapshot-0000000003.body.json',
      'snapshot-0000000003.manifest.json',
      'snapshot-0000000004.body.json',
      'snapshot-0000000004.manifest.json',
    ]);
  });

  it('quarantines a damaged newest snapshot and uses the previous one with its deltas, asking for a fresh one', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 2));
    await store.accept(v1.manifest, v1.body);
    const d2 = authority.delta(1, 2, [{ op: 'add', card: sampleCard(3) }]);
    await store.accept(d2.manifest, d2.body);
    const v4 = authority.snapshot(4, cards(1, 5));
    await store.accept(v4.manifest, v4.body);
    const path = join(dir, 'snapshot-0000000004.body.json');
    await writeFile(path, (await readFile(path, 'utf8')).replace('"active"', '"ACTIVE"'));

    const reopened = await openStore();
    expect(reopened.view?.version).toBe(2);
    expect(reopened.view?.byCardId(sampleCard(3).cardId)).toBeDefined();
    expect(reopened.damage).toMatchObject({
      lostVersion: 4,
      usedVersion: 2,
      reasons: [expect.stringContaining('snapshot 4: digest-mismatch')],
    });
    expect(reopened.wantsFresh).toBe(true);
    expect((await readdir(join(dir, 'quarantine'))).filter((n) => !n.endsWith('.why.json')).sort()).toEqual([
      expect.stringMatching(/^snapshot-0000000004\.body\.json\./),
      expect.stringMatching(/^snapshot-0000000004\.manifest\.json\./),
    ]);
    const fresh = authority.snapshot(5, cards(1, 6));
    await reopened.accept(fresh.manifest, fresh.body);
    expect(reopened.wantsFresh).toBe(false);
  });

  it('stops at a damaged delta, quarantined, and keeps the versions before it', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 2));
    await store.accept(v1.manifest, v1.body);
    for (const [from, n] of [
      [1, 3],
      [2, 4],
      [3, 5],
    ] as const) {
      const delta = authority.delta(from, from + 1, [{ op: 'add', card: sampleCard(n) }]);
      await store.accept(delta.manifest, delta.body);
    }
    await writeFile(join(dir, 'delta-0000000003.manifest.json'), '{"signed":');
    const reopened = await openStore();
    expect(reopened.view?.version).toBe(2);
    expect(reopened.damage).toMatchObject({ lostVersion: 4, usedVersion: 2 });
    expect(await rosterFiles()).toContain('delta-0000000004.manifest.json');
  });

  it('quarantines a stored body altered at rest and, with nothing older, falls back to no roster', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 2));
    await store.accept(v1.manifest, v1.body);
    const path = join(dir, 'snapshot-0000000001.body.json');
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.replace('"active"', '"ACTIVE"'));
    const reopened = await openStore();
    expect(reopened.view).toBeUndefined();
    expect(reopened.damage).toMatchObject({ lostVersion: 1, usedVersion: 0 });
    expect(lines.some((line) => line.includes('stored roster snapshot does not verify'))).toBe(true);
    expect(lines.some((line) => line.includes('no older version verifies'))).toBe(true);
  });

  it('an unprovisioned device has no roster and refuses everything', async () => {
    const store = await openStore();
    expect(store.provisioned).toBe(false);
    const v1 = authority.snapshot(1, cards(1, 2));
    await expectRejected(store.accept(v1.manifest, v1.body), 'unknown-key');
  });
});

describe('key sets', () => {
  it('rotates the roster key: the new key is trusted, the retired one is not, the roster in force stays', async () => {
    const store = await provisioned();
    const v1 = authority.snapshot(1, cards(1, 2));
    await store.accept(v1.manifest, v1.body);
    const retired = authority.rosterKeys;
    await store.acceptKeySet(authority.rotateRosterKey());
    const old = authority.snapshot(2, cards(1, 3), { signers: retired });
    await expectRejected(store.accept(old.manifest, old.body), 'unknown-key');
    const v2 = authority.snapshot(2, cards(1, 3));
    await store.accept(v2.manifest, v2.body);
    const reopened = await openStore();
    expect(reopened.keySetVersion).toBe(2);
    expect(reopened.view?.version).toBe(2);
  });

  it('takes rotation only from N to N+1 and only with root signatures', async () => {
    const store = await provisioned();
    authority.rotateRosterKey();
    await expectRejected(store.acceptKeySet(authority.rotateRosterKey()), 'keyset-version');
    const impostor = new TestAuthority('school-1');
    impostor.keySetVersion = 2;
    await expectRejected(store.acceptKeySet(impostor.keySet()), 'unknown-key');
    expect(store.keySetVersion).toBe(1);
  });
});
