import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestStore } from '../store/test-store.js';
import { BodyGrants, GRANT_TTL_MS, withoutGrant } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'grants-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const PATH = '/v1/roster/school-1/snapshots/8';
const grantOf = (url: string) => new URL(url, 'http://bridge').searchParams.get('grant');

describe('body grants', () => {
  it('let the holder of a published URL fetch that body only, until it expires by the bridge clock', () => {
    const store = openTestStore(join(root, 'one.db'));
    let now = Date.parse('2031-03-01T08:00:00.000Z');
    const grants = new BodyGrants(store.database, () => new Date(now));
    const url = grants.sign(PATH);
    expect(url.startsWith(`${PATH}?grant=`)).toBe(true);
    const grant = grantOf(url);
    expect(grants.check(PATH, grant)).toBe('ok');
    for (const other of [
      '/v1/roster/school-2/snapshots/8',
      '/v1/roster/school-1/snapshots/9',
      '/v1/catalogue/school-1/snapshots/8',
    ])
      expect(grants.check(other, grant), other).toBe('invalid');
    expect(grants.check(PATH, undefined)).toBe('missing');
    expect(grants.check(PATH, ['a', 'b'])).toBe('missing');
    expect(grants.check(PATH, `${grant}x`)).toBe('invalid');
    // A later expiry written over a real signature does not verify.
    const [expires, mac] = (grant as string).split('.');
    expect(grants.check(PATH, `${Number(expires) + 86_400}.${mac}`)).toBe('invalid');
    now += GRANT_TTL_MS - 1000;
    expect(grants.check(PATH, grant)).toBe('ok');
    now += 1000;
    expect(grants.check(PATH, grant)).toBe('expired');
    store.close();
  });

  it('are signed alike by every bridge on one database, and differently by another', () => {
    const store = openTestStore(join(root, 'shared.db'));
    const a = new BodyGrants(store.database);
    const b = new BodyGrants(store.database);
    expect(b.check(PATH, grantOf(a.sign(PATH)))).toBe('ok');
    const elsewhere = openTestStore(join(root, 'elsewhere.db'));
    expect(new BodyGrants(elsewhere.database).check(PATH, grantOf(a.sign(PATH)))).toBe('invalid');
    store.close();
    elsewhere.close();
  });

  it('never reach a log line whole', () => {
    expect(withoutGrant(`${PATH}?grant=123.abc&x=1`)).toBe(`${PATH}?grant=…&x=1`);
    expect(withoutGrant(`${PATH}?x=1&grant=123.abc`)).toBe(`${PATH}?x=1&grant=…`);
    expect(withoutGrant(PATH)).toBe(PATH);
  });
});
