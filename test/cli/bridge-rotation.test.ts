import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Gateway, loadOrCreateIdentity, RosterRejected, RosterStore } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import {
  EnrollmentResponse,
  ed25519,
  fromBase64Url,
  generateKeyPair,
  issueRoster,
  KeyRole,
  keyIdOf,
  rootFingerprint,
  signDocument,
} from '@educard/terminal-sdk';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUplinkGateway } from '../support/bridge.js';
import { bridgeCli, initBridge, serveBridge } from '../support/cli.js';
import { exited } from '../support/processes.js';

let dir: string;
let config: string;
let bridge: Awaited<ReturnType<typeof serveBridge>>;
let gateway: Gateway | undefined;

const cli = (...args: string[]) => bridgeCli([...args, '--config', config]);
const keysFile = () => readFile(join(dir, 'data', 'roster-keys.json'), 'utf8');

const HEADER = 'card_id,credential,uid,person_id,role,school,status,valid_from,valid_until,zones';
/** A roster row, valid around today: the bridge and the gateway run on the real clock. */
const row = (n: number) => {
  const card = sampleCard(n, validAround(Date.now()));
  return `${card.cardId},uid,${card.credential.uid},${card.personId},student,school-1,active,${card.validFrom},${card.validUntil},main-gate`;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-rotation-'));
  const init = await initBridge(dir);
  config = init.config;
  bridge = await serveBridge(config);

  // Provision a gateway the way a technician does: the anchor file init wrote, a token, enrollment.
  const anchor = KeyRole.parse(JSON.parse(await readFile(join(dir, 'anchor.json'), 'utf8')));
  expect(rootFingerprint(anchor)).toBe(init.fingerprint);
  const gateDir = join(dir, 'gate-01');
  await mkdir(join(gateDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(gateDir, 'roster'), anchor);
  const identity = await loadOrCreateIdentity(join(gateDir, 'device-key.json'));
  const { tokens } = (await cli('tokens', 'create', '--school', 'school-1', '--json')).json<{
    tokens: string[];
  }>();
  const response = await fetch(`${bridge.http}/v1/enroll`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: tokens[0], deviceId: 'gate-01', publicKey: identity.publicKey }),
  });
  const granted = EnrollmentResponse.parse(await response.json());
  await writeFile(join(dir, 'roster.csv'), [HEADER, row(1), row(2), row(3)].join('\n'));
  const imported = await cli('import', join(dir, 'roster.csv'), '--school', 'school-1');
  expect(imported.code, imported.stderr).toBe(0);
  gateway = await startUplinkGateway(gateDir, 'gate-01', granted.mqtt, bridge.http);
});
afterAll(async () => {
  await gateway?.stop();
  bridge?.child.process.kill('SIGTERM');
  if (bridge) expect(await exited(bridge.child.process)).toBe(0);
  await rm(dir, { recursive: true, force: true });
});

describe('educard-bridge cards and keys with a gateway', () => {
  it('takes a card reported lost through the CLI to the gateway', async () => {
    const live = gateway as Gateway;
    await until(() => live.roster.view?.version === 1);
    const lost = await cli('cards', 'lost', sampleCard(2).cardId, '--json');
    expect(lost.code, lost.stderr).toBe(0);
    expect(lost.json()).toMatchObject({ cardId: sampleCard(2).cardId, status: 'lost', version: 2 });
    await until(() => live.roster.view?.version === 2);
    expect(live.roster.view?.byCardId(sampleCard(2).cardId)?.status).toBe('lost');
  });

  it('refuses a rotation with a missing, unreadable or wrong root key, and changes nothing', async () => {
    const before = await keysFile();
    const foreign = join(dir, 'foreign-root.json');
    await writeFile(
      foreign,
      JSON.stringify({ root: [Buffer.from(generateKeyPair().seed).toString('base64url')] }),
    );
    const garbage = join(dir, 'garbage.json');
    await writeFile(garbage, '{"root": "not a key"');
    for (const [file, code, message] of [
      [
        join(dir, 'usb', 'nope.json'),
        2,
        /no root key file at .*nope\.json\npass the file `educard-bridge init` wrote/,
      ],
      [garbage, 2, /garbage\.json is not a root key file: not JSON/],
      [join(dir, 'usb'), 2, /cannot read the root key file .*usb \(EISDIR\)/],
      [join(dir, 'data', 'roster-keys.json'), 2, /roster key file without the root key/],
      [
        foreign,
        1,
        /needs 1 of [0-9a-f]{16}: nothing was changed\nuse the root key file made for this bridge/,
      ],
    ] as const) {
      const run = await cli('keys', 'rotate', '--root-key', file);
      expect(run.code, `${file}: ${run.stderr}`).toBe(code);
      expect(run.stderr).toMatch(message);
    }
    const missingFlag = await cli('keys', 'rotate');
    expect(missingFlag.code).toBe(2);
    expect(missingFlag.stderr).toMatch(/required option '--root-key <file>'/);

    // A key set signed by some other key reaches the bridge: refused with the reason, nothing changed.
    const { adminToken } = JSON.parse(await readFile(config, 'utf8')) as { adminToken: string };
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${bridge.http}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const prepared = await post('/v1/keys/roster/rotate/prepare', {});
    expect(prepared.status).toBe(200);
    const { pendingId, keySet } = prepared.body as { pendingId: string; keySet: Record<string, unknown> };
    const forged = signDocument(keySet, [generateKeyPair()]);
    const refused = await post('/v1/keys/keysets', { pendingId, keySet: forged });
    expect(refused.status).toBe(422);
    expect(String(refused.body.message)).toMatch(/0 valid signature\(s\) from the root keys of key set 1/);
    expect((await post('/v1/keys/keysets', { pendingId: 'other', keySet: forged })).status).toBe(409);

    expect(await keysFile()).toBe(before);
    const shown = await cli('keys', 'show', '--json');
    expect(shown.json()).toMatchObject({ keySetVersion: 1, rootOnBridge: false });
  });

  it('rotates the roster key: the gateway takes the new key set and the re-issued roster, and refuses the retired key', async () => {
    const live = gateway as Gateway;
    const before = JSON.parse(await keysFile()) as { roster: string[] };
    const retired = ed25519.keyPairFromSeed(fromBase64Url(before.roster[0] as string));
    const version = live.roster.view?.version as number;

    const run = await cli('keys', 'rotate', '--root-key', join(dir, 'usb', 'root-key.json'), '--json');
    expect(run.code, run.stderr).toBe(0);
    const rotated = run.json<{
      version: number;
      rosterKeyIds: string[];
      retiredKeyIds: string[];
      reissued: { school: string; version: number }[];
    }>();
    expect(rotated).toMatchObject({
      version: 2,
      retiredKeyIds: [keyIdOf(retired.publicKey)],
      reissued: [{ school: 'school-1', version: version + 1 }],
    });
    // The bridge holds the new roster key only, and still no root key.
    const after = JSON.parse(await keysFile()) as { root?: string[]; roster: string[]; keySets: string[] };
    expect(after.root).toBeUndefined();
    expect(after.roster).toHaveLength(1);
    expect(after.roster[0]).not.toBe(before.roster[0]);
    expect(after.keySets).toHaveLength(2);

    await until(() => live.roster.keySetVersion === 2 && live.roster.view?.version === version + 1);
    // A card change after the rotation reaches the gateway, signed by the new key.
    const cancelled = await cli('cards', 'cancel', sampleCard(3).cardId, '--json');
    expect(cancelled.code, cancelled.stderr).toBe(0);
    await until(() => live.roster.view?.version === version + 2);
    expect(live.roster.view?.byCardId(sampleCard(3).cardId)?.status).toBe('cancelled');

    // A roster signed by the retired key is refused by the gateway's store.
    const stale = issueRoster(
      {
        kind: 'snapshot',
        school: 'school-1',
        version: version + 10,
        issuedAt: new Date().toISOString(),
        calendar: { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] },
        schedules: [],
        cards: [sampleCard(1)],
      },
      { expiresAt: new Date(Date.now() + 86_400_000).toISOString(), keySetVersion: 1, signers: [retired] },
    );
    const refusal = await live.roster.accept(stale.manifest, stale.body).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(RosterRejected);
    expect((refusal as RosterRejected).code).toBe('unknown-key');
    expect(live.roster.view?.version).toBe(version + 2);

    const shown = await cli('keys', 'show');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      new RegExp(`key set in force\\s+2\\nroster key\\s+${rotated.rosterKeyIds[0]}`),
    );
  });
  it('names card issuers in a rotation with --card-issuers, refuses a file that is not one, and keeps them after', async () => {
    const issuers = [generateKeyPair(), generateKeyPair()];
    const file = join(dir, 'card-issuers.json');
    await writeFile(
      file,
      JSON.stringify({ cardIssuers: issuers.map((k) => Buffer.from(k.publicKey).toString('base64url')) }),
    );
    const bad = join(dir, 'not-issuers.json');
    await writeFile(bad, JSON.stringify({ cardIssuers: ['short'] }));
    const rootKey = join(dir, 'usb', 'root-key.json');
    const refused = await cli('keys', 'rotate', '--root-key', rootKey, '--card-issuers', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/not-issuers\.json is not a card issuers file/);
    const named = await cli('keys', 'rotate', '--root-key', rootKey, '--card-issuers', file, '--json');
    expect(named.code, named.stderr).toBe(0);
    const ids = issuers.map((k) => keyIdOf(k.publicKey));
    const issuerIds = async () => {
      const shown = await cli('keys', 'show', '--json');
      return shown.json<{ keySets: { cardIssuerKeyIds: string[] }[] }>().keySets.at(-1)?.cardIssuerKeyIds;
    };
    expect(await issuerIds()).toEqual(ids);
    // A rotation without the option keeps the issuers in force.
    expect((await cli('keys', 'rotate', '--root-key', rootKey)).code).toBe(0);
    expect(await issuerIds()).toEqual(ids);
  }, 60_000);
});
