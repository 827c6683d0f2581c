import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Ed25519KeyPair,
  generateKeyPair,
  issueKeySet,
  keyIdOf,
  keyRole,
  RosterManifest,
  signDocument,
} from '@educard/terminal-sdk';
import { SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B, sampleCard } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBridgeConfig } from '../config/index.js';
import { Bridge } from '../runtime/index.js';
import {
  type KeySetRefused,
  loadOrCreateRosterKeys,
  newRosterKeys,
  PENDING_ROTATION_FILE,
  RosterKeyring,
  rosterKeysPath,
  saveRosterKeys,
} from './keys.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error as KeySetRefused,
  );

describe('the roster keyring', () => {
  it('makes its own keys, root included, on first start; loads a key file without a root seed', async () => {
    const made = await loadOrCreateRosterKeys(dir);
    expect(made.root).toHaveLength(1);
    expect((await stat(rosterKeysPath(dir))).mode & 0o777).toBe(0o600);
    expect((await RosterKeyring.open(dir)).rootOnBridge).toBe(true);

    const { keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    expect(JSON.parse(await readFile(rosterKeysPath(dir), 'utf8')).root).toBeUndefined();
    const ring = await RosterKeyring.open(dir);
    expect(ring.rootOnBridge).toBe(false);
    expect(ring.version).toBe(1);
  });

  it("keeps each school's uid key across restarts and key rotations, one key per school; gives an older key file a secret once", async () => {
    const { root, keys } = newRosterKeys();
    const { uidSecret: _made, ...older } = keys;
    await saveRosterKeys(dir, older);
    const ring = await RosterKeyring.open(dir);
    const key = ring.uidKey('school-1');
    expect(key).toHaveLength(32);
    expect(Buffer.from(ring.uidKey('school-2')).equals(Buffer.from(key))).toBe(false);
    expect(JSON.parse(await readFile(rosterKeysPath(dir), 'utf8')).uidSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const { pendingId, keySet } = await ring.prepareRotation({});
    await ring.commitKeySet(pendingId, signDocument(keySet, root));
    expect(Buffer.from(ring.uidKey('school-1')).equals(Buffer.from(key))).toBe(true);
    const reopened = await RosterKeyring.open(dir);
    expect(reopened.version).toBe(2);
    expect(Buffer.from(reopened.uidKey('school-1')).equals(Buffer.from(key))).toBe(true);
  });

  it('names card issuers in a rotation, keeps them through the next one, and drops them when told', async () => {
    const { root, keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    const ring = await RosterKeyring.open(dir);
    const issuers = keyRole([SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B]);
    const rotate = async (options: Parameters<RosterKeyring['prepareRotation']>[0]) => {
      const { pendingId, keySet } = await ring.prepareRotation(options);
      await ring.commitKeySet(pendingId, signDocument(keySet, root));
      return ring.latest.cardIssuers;
    };
    expect(ring.latest.cardIssuers).toBeUndefined();
    expect(await rotate({ cardIssuers: issuers })).toEqual(issuers);
    expect(await rotate({})).toEqual(issuers);
    expect(await rotate({ cardIssuers: null })).toBeUndefined();
    expect((await RosterKeyring.open(dir)).version).toBe(4);
  });

  it('refuses a key set that is not the one prepared or not signed by the root, and changes nothing', async () => {
    const { root, keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    const ring = await RosterKeyring.open(dir);
    const before = await readFile(rosterKeysPath(dir), 'utf8');
    const { pendingId, keySet } = await ring.prepareRotation();

    expect((await refusal(ring.commitKeySet('another', signDocument(keySet, root))))?.status).toBe(409);
    const altered = signDocument({ ...keySet, roster: keySet.root }, root);
    expect(await refusal(ring.commitKeySet(pendingId, altered))).toMatchObject({
      status: 422,
      message: expect.stringMatching(/not the one prepared/),
    });
    expect(
      await refusal(ring.commitKeySet(pendingId, signDocument(keySet, [generateKeyPair()]))),
    ).toMatchObject({
      status: 422,
      message: expect.stringMatching(/0 valid signature\(s\) from the root keys of key set 1/),
    });
    expect((await refusal(ring.commitKeySet(pendingId, { signed: 'x' })))?.status).toBe(400);
    expect(await readFile(rosterKeysPath(dir), 'utf8')).toBe(before);
    expect(ring.version).toBe(1);

    const old = ring.signers[0];
    const committed = await ring.commitKeySet(pendingId, signDocument(keySet, root));
    expect(committed.version).toBe(2);
    expect(ring.signers).toHaveLength(1);
    expect(ring.signers[0]).not.toBe(old);
    // Durable: a bridge starting again holds key set 2 and the new roster key only.
    const reopened = await RosterKeyring.open(dir);
    expect(reopened.version).toBe(2);
    expect(reopened.signers[0]?.seed).toEqual(ring.signers[0]?.seed);
    expect(reopened.anchor).toEqual(ring.anchor);
    // A prepared rotation is used once.
    expect((await refusal(ring.commitKeySet(pendingId, signDocument(keySet, root))))?.status).toBe(409);
  });

  it('takes a key set another instance sharing its data directory committed before it signs again', async () => {
    const { root, keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    const first = await RosterKeyring.open(dir);
    const second = await RosterKeyring.open(dir);
    const followed: (number | string)[] = [];
    second.follower = { taken: (version) => followed.push(version), unreadable: (m) => followed.push(m) };
    // The second prepared a rotation too: the first's commit makes its version taken.
    const theirs = await second.prepareRotation({});
    const ours = await first.prepareRotation({});
    const committed = await first.commitKeySet(ours.pendingId, signDocument(ours.keySet, root));
    const key = (ring: RosterKeyring) => keyIdOf((ring.signers[0] as Ed25519KeyPair).publicKey);
    await expect.poll(() => second.version, { timeout: 5_000 }).toBe(2);
    expect(key(second)).toBe(committed.rosterKeyIds[0]);
    expect(key(second)).toBe(key(first));
    expect(second.keySets).toEqual(first.keySets);
    expect(followed).toEqual([2]);
    const refused = await refusal(second.commitKeySet(theirs.pendingId, signDocument(theirs.keySet, root)));
    expect(refused?.status).toBe(409);
    expect(second.version).toBe(2);

    // A key file damaged by hand: the keys in force stay, and it is said once.
    await writeFile(rosterKeysPath(dir), '{"roster": "not keys"}');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(key(second)).toBe(committed.rosterKeyIds[0]);
    expect(key(second)).toBe(committed.rosterKeyIds[0]);
    expect(followed).toEqual([2, expect.stringMatching(/is not a roster key file/)]);
  });

  it('commits a rotation prepared on another instance sharing its data directory, or before a restart', async () => {
    const { root, keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    const first = await RosterKeyring.open(dir);
    const second = await RosterKeyring.open(dir);
    // Prepared through one instance (behind a load balancer), signed offline, committed through the other.
    const prepared = await first.prepareRotation({});
    const pendingFile = join(dir, PENDING_ROTATION_FILE);
    expect((await stat(pendingFile)).mode & 0o777).toBe(0o600);
    expect(second.pendingRotation?.id).toBe(prepared.pendingId);
    const committed = await second.commitKeySet(prepared.pendingId, signDocument(prepared.keySet, root));
    expect(committed.version).toBe(2);
    // The new roster key is the one the preparing instance made, and both sign with it.
    expect(prepared.keySet.roster.keys.map((k) => k.keyId)).toEqual(committed.rosterKeyIds);
    await expect.poll(() => first.version, { timeout: 5_000 }).toBe(2);
    expect(keyIdOf((first.signers[0] as Ed25519KeyPair).publicKey)).toBe(committed.rosterKeyIds[0]);
    await expect(stat(pendingFile)).rejects.toThrow(/ENOENT/);
    expect(first.pendingRotation).toBeUndefined();

    // The offline signing takes a while and the bridge restarts meanwhile: the rotation is still there.
    const next = await first.prepareRotation({});
    const restarted = await RosterKeyring.open(dir);
    expect(restarted.pendingRotation?.id).toBe(next.pendingId);
    expect((await restarted.commitKeySet(next.pendingId, signDocument(next.keySet, root))).version).toBe(3);

    // A rotation file left behind by a crash after its commit names a version taken: refused.
    const stale = await restarted.prepareRotation({});
    const kept = await readFile(pendingFile, 'utf8');
    await restarted.commitKeySet(stale.pendingId, signDocument(stale.keySet, root));
    await writeFile(pendingFile, kept);
    expect(
      await refusal(restarted.commitKeySet(stale.pendingId, signDocument(stale.keySet, root))),
    ).toMatchObject({
      status: 409,
      message: expect.stringMatching(/prepared as key set 4, and key set 4 is in force/),
    });
    // A rotation file damaged by hand: refused, saying which file and why.
    const damaged = await restarted.prepareRotation({});
    await writeFile(pendingFile, '{"id": "x"');
    expect(restarted.pendingRotation).toBeUndefined();
    expect(
      await refusal(restarted.commitKeySet(damaged.pendingId, signDocument(damaged.keySet, root))),
    ).toMatchObject({
      status: 409,
      message: expect.stringMatching(/roster-keys-pending\.json cannot be read \(.*JSON/),
    });
    expect(restarted.version).toBe(4);
  });

  it('names a command key in key set 1 and rotates it with the roster key, every other role kept', async () => {
    const { root, keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    const ring = await RosterKeyring.open(dir);
    const idsOf = (role?: { keys: { keyId: string }[] }) => role?.keys.map((k) => k.keyId);
    const first = ring.commandSigners[0];
    expect(ring.commandSigners).toHaveLength(1);
    expect(idsOf(ring.latest.commands)).toEqual([keyIdOf((first as Ed25519KeyPair).publicKey)]);

    const { pendingId, keySet } = await ring.prepareRotation();
    expect(keySet.root).toEqual(ring.latest.root);
    expect(idsOf(keySet.commands)).not.toEqual(idsOf(ring.latest.commands));
    await ring.commitKeySet(pendingId, signDocument(keySet, root));
    expect(idsOf(ring.latest.commands)).toEqual([
      keyIdOf((ring.commandSigners[0] as Ed25519KeyPair).publicKey),
    ]);
    expect(ring.commandSigners[0]?.seed).not.toEqual(first?.seed);
    // The old command key is gone from the file: a stolen copy of it signs nothing a device takes.
    const reopened = await RosterKeyring.open(dir);
    expect(reopened.commandSigners.map((k) => k.seed)).toEqual(ring.commandSigners.map((k) => k.seed));
  });

  it('keeps the command key and card issuers through a change of the release keys, and the release keys and card issuers through a rotation', async () => {
    const { root, keys } = newRosterKeys();
    await saveRosterKeys(dir, keys);
    const ring = await RosterKeyring.open(dir);
    const commandSeeds = () => ring.commandSigners.map((k) => k.seed);
    const cardIssuers = keyRole([SAMPLE_CARD_ISSUER]);
    const named = await ring.prepareRotation({ cardIssuers });
    await ring.commitKeySet(named.pendingId, signDocument(named.keySet, root));
    const before = { commands: ring.latest.commands, seeds: commandSeeds(), roster: ring.latest.roster };
    const releases = keyRole([generateKeyPair(), generateKeyPair()], 2);

    const change = await ring.prepareReleaseKeys(releases);
    await ring.commitKeySet(change.pendingId, signDocument(change.keySet, root));
    expect(ring.latest).toMatchObject({
      version: 3,
      releases,
      commands: before.commands,
      roster: before.roster,
      cardIssuers,
    });
    expect(commandSeeds()).toEqual(before.seeds);

    const rotation = await ring.prepareRotation();
    await ring.commitKeySet(rotation.pendingId, signDocument(rotation.keySet, root));
    expect(ring.latest.version).toBe(4);
    expect(ring.latest.releases).toEqual(releases);
    expect(ring.latest.cardIssuers).toEqual(cardIssuers);
    expect(ring.latest.commands).not.toEqual(before.commands);
    expect(commandSeeds()).not.toEqual(before.seeds);
  });

  it('gives a bridge whose key sets predate commands a command key at its next rotation', async () => {
    const root = [generateKeyPair()];
    const roster = [generateKeyPair()];
    const old = issueKeySet({ version: 1, root: keyRole(root), roster: keyRole(roster), signers: root });
    await saveRosterKeys(dir, {
      root: [],
      roster,
      commands: [],
      keySets: [Buffer.from(old).toString('utf8')],
    });
    const ring = await RosterKeyring.open(dir);
    expect(ring.commandSigners).toEqual([]);
    expect(ring.latest.commands).toBeUndefined();
    const { pendingId, keySet } = await ring.prepareRotation();
    await ring.commitKeySet(pendingId, signDocument(keySet, root));
    expect(ring.commandSigners).toHaveLength(1);
    expect(ring.latest.commands?.keys).toHaveLength(1);
  });

  it('re-issues at start a roster signed under an older key set (a stop between rotation and re-issue)', async () => {
    const config = parseBridgeConfig({
      dataDir: dir,
      adminToken: 'test-admin-token-0123456789',
      mqtt: { port: 0 },
      http: { port: 0 },
    });
    const logger = pino({ level: 'silent' });
    let bridge = await Bridge.start(config, logger);
    const response = await fetch(`${bridge.httpUrl}/v1/roster/school-1/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${config.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ cards: [sampleCard(1)] }),
    });
    expect(response.status).toBe(200);
    await bridge.stop();

    // The key set is committed, as a rotation does, and the bridge stops before re-issuing.
    const ring = await RosterKeyring.open(dir);
    const root = (await loadOrCreateRosterKeys(dir)).root;
    const { pendingId, keySet } = await ring.prepareRotation();
    await ring.commitKeySet(pendingId, signDocument(keySet, root));

    bridge = await Bridge.start(config, logger);
    try {
      const latest = bridge.store.latestRosterVersion('school-1');
      expect(latest?.version).toBe(2);
      const manifest = RosterManifest.parse(JSON.parse(latest?.snapshotManifest as string).signed);
      expect(manifest.keySetVersion).toBe(2);
    } finally {
      await bridge.stop();
    }
  });
});
