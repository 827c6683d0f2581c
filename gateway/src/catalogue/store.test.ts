import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CatalogueSnapshot,
  DEFAULT_LOAN_RULES,
  generateKeyPair,
  type IssuedCatalogue,
  issueCatalogue,
} from '@educard/terminal-sdk';
import { TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../log/index.js';
import { expectRejected, provisionedRoster } from '../roster/fixture.js';
import type { RosterStore } from '../roster/index.js';
import { CatalogueStore, trustedKeySets } from './index.js';

const logger = createLogger('catalogue-test', { level: 'silent' });
let dir: string;
let authority: TestAuthority;
let roster: RosterStore;

function catalogueOf(
  version: number,
  options: { school?: string; expiresAt?: string; signers?: ReturnType<typeof generateKeyPair>[] } = {},
): IssuedCatalogue {
  const body: CatalogueSnapshot = {
    kind: 'catalogue',
    school: options.school ?? 'school-1',
    version,
    issuedAt: new Date(Date.now() - 60_000).toISOString(),
    rules: DEFAULT_LOAN_RULES,
    items: [
      { itemId: `B${version}`, title: `Book ${version}`, callNumber: '823 AUS' },
      { itemId: 'R1', title: 'An Atlas', status: 'reference' },
    ],
  };
  return issueCatalogue(body, {
    expiresAt: options.expiresAt ?? new Date(Date.now() + 30 * 86_400_000).toISOString(),
    keySetVersion: authority.keySetVersion,
    signers: options.signers ?? authority.rosterKeys,
  });
}

const open = () =>
  CatalogueStore.open({
    dir: join(dir, 'catalogue'),
    school: 'school-1',
    logger,
    keySets: () => trustedKeySets(join(dir, 'roster')),
    now: () => Date.now(),
  });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'catalogue-'));
  authority = new TestAuthority('school-1');
  roster = await provisionedRoster(join(dir, 'roster'), authority, {
    school: 'school-1',
    device: 'lib-gw',
    logger,
  });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the catalogue store', () => {
  it('applies a signed catalogue, keeps it across a restart, and replaces it with a newer one', async () => {
    const store = await open();
    const v1 = catalogueOf(1);
    expect(await store.accept(v1.manifest, v1.body)).toEqual({ status: 'applied', version: 1, items: 2 });
    expect(store.view?.item('B1')).toEqual({ itemId: 'B1', title: 'Book 1', callNumber: '823 AUS' });
    expect(store.view?.rules.student).toEqual(DEFAULT_LOAN_RULES.student);
    expect(await store.accept(v1.manifest, v1.body)).toEqual({ status: 'unchanged', version: 1 });
    const v2 = catalogueOf(2);
    let fetched = 0;
    await store.accept(v2.manifest, async () => {
      fetched += 1;
      return v2.body;
    });
    expect(fetched).toBe(1);
    expect(store.view?.item('B1')).toBeUndefined();
    expect((await readdir(join(dir, 'catalogue'))).sort()).toEqual([
      'catalogue-0000000002.body.json',
      'catalogue-0000000002.manifest.json',
    ]);
    const again = await open();
    expect(again.view?.version).toBe(2);
    expect(again.view?.item('B2')?.title).toBe('Book 2');
  });

  it('refuses what the roster would refuse, and keeps the catalogue in force', async () => {
    const store = await open();
    const v2 = catalogueOf(2);
    await store.accept(v2.manifest, v2.body);
    const v1 = catalogueOf(1);
    await expectRejected(store.accept(v1.manifest, v1.body), 'rollback');
    const forged = catalogueOf(3, { signers: [generateKeyPair()] });
    await expectRejected(store.accept(forged.manifest, forged.body), 'unknown-key');
    const other = catalogueOf(3, { school: 'school-2' });
    await expectRejected(store.accept(other.manifest, other.body), 'wrong-school');
    const expired = catalogueOf(3, { expiresAt: new Date(Date.now() - 86_400_000).toISOString() });
    await expectRejected(store.accept(expired.manifest, expired.body), 'expired');
    const v3 = catalogueOf(3);
    const altered = Buffer.from(Buffer.from(v3.body).toString().replace('Book 3', 'Book X'));
    await expectRejected(store.accept(v3.manifest, altered), 'digest-mismatch');
    await expectRejected(store.accept(v3.manifest, v3.body.subarray(1)), 'length-mismatch');
    expect(store.view?.version).toBe(2);
  });

  it('keeps a catalogue signed before a key rotation, and takes new ones only from the new key', async () => {
    const store = await open();
    const v1 = catalogueOf(1);
    await store.accept(v1.manifest, v1.body);
    const oldKeys = authority.rosterKeys;
    await roster.acceptKeySet(authority.rotateRosterKey());
    const again = await open();
    expect(again.view?.version).toBe(1);
    const stale = catalogueOf(2, { signers: oldKeys });
    await expectRejected(again.accept(stale.manifest, stale.body), 'unknown-key');
    const v2 = catalogueOf(2);
    expect((await again.accept(v2.manifest, v2.body)).status).toBe('applied');
  });

  it('holds nothing on a device with no trust anchor', async () => {
    await rm(join(dir, 'roster'), { recursive: true });
    const store = await open();
    const v1 = catalogueOf(1);
    await expectRejected(store.accept(v1.manifest, v1.body), 'unknown-key');
    expect(store.view).toBeUndefined();
  });
});
