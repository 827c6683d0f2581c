import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  asAdmin,
  Browser,
  makeAccount,
  PASSWORD,
  startClockedBridge,
  TestClock,
} from '../support/accounts.js';

let dir: string;
let bridge: Bridge;
let clock: TestClock;
let base: string;

interface AuditView {
  actor: string;
  action: string;
  outcome: string;
  school?: string;
  detail?: Record<string, unknown>;
}

const auditOf = async (query = '') =>
  (await asAdmin(base, 'GET', `/v1/audit?limit=1000${query}`)).body.entries as AuditView[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'accounts-'));
  clock = new TestClock();
  bridge = await startClockedBridge(dir, clock);
  base = bridge.httpUrl;
});
afterEach(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('sessions', () => {
  it('signs in with a cookie that scripts and other sites cannot use, and signs out', async () => {
    await makeAccount(base, { username: 'Li.Wei', role: 'school-admin', school: 'school-1' });
    const browser = new Browser(base);
    const signedIn = await browser.login('li.wei');
    expect(signedIn.status).toBe(200);
    expect(signedIn.body).toMatchObject({
      account: { username: 'Li.Wei', role: 'school-admin', school: 'school-1' },
      expiresAt: new Date(clock.now().getTime() + 30 * 60_000).toISOString(),
    });
    expect(browser.setCookie).toMatch(/^educard_session=[A-Za-z0-9_-]{43};/);
    expect(browser.setCookie).toMatch(/HttpOnly/);
    expect(browser.setCookie).toMatch(/SameSite=Strict/);
    expect(browser.setCookie).not.toMatch(/Secure/);
    expect((await browser.request('GET', '/v1/session')).body).toMatchObject({
      account: { username: 'Li.Wei' },
    });
    expect((await browser.request('GET', '/v1/accounts')).status).toBe(200);

    expect((await browser.request('DELETE', '/v1/session')).status).toBe(204);
    expect(browser.cookie).toBeUndefined();
    const stale = new Browser(base);
    stale.cookie = `educard_session=${/educard_session=([^;]+)/.exec(signedIn.headers.get('set-cookie') ?? '')?.[1]}`;
    expect((await stale.request('GET', '/v1/session')).status).toBe(401);
    expect((await stale.request('GET', '/v1/accounts')).status).toBe(401);
    const actions = (await auditOf('&actor=Li.Wei')).map((e) => `${e.action} ${e.outcome}`);
    expect(actions).toEqual(['session.logout ok', 'session.login ok']);
  });

  it('answers an unknown user and a wrong password alike, and locks a username after 5 failures', async () => {
    await makeAccount(base, { username: 'op', role: 'operator', school: 'school-1' });
    const browser = new Browser(base);
    const unknown = await browser.login('nobody', PASSWORD);
    const wrong = await browser.login('op', 'not the password at all');
    expect(unknown).toMatchObject({ status: 401, body: { error: 'bad-credentials' } });
    expect(wrong).toMatchObject({ status: 401, body: wrong.body });
    expect(unknown.body).toEqual(wrong.body);
    for (let i = 0; i < 4; i++) expect((await browser.login('OP', `wrong guess ${i}xx`)).status).toBe(401);
    const locked = await browser.login('op');
    expect(locked).toMatchObject({ status: 429, body: { error: 'throttled' } });
    expect(Number(locked.headers.get('retry-after'))).toBe(300);
    clock.advanceMinutes(4);
    expect((await browser.login('op')).status).toBe(429);
    clock.advanceMinutes(2);
    expect((await browser.login('op')).status).toBe(200);

    const entries = await auditOf('&action=session.login');
    expect(entries.filter((e) => e.actor.toLowerCase() === 'op').map((e) => e.outcome)).toEqual([
      'ok',
      'denied',
      'denied',
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
    ]);
    expect(entries.find((e) => e.outcome === 'denied')?.detail).toEqual({ reason: 'throttled' });
    expect(entries.find((e) => e.actor === 'nobody')?.detail).toMatchObject({ reason: 'unknown-user' });
  });

  it('ends a session idle for 30 minutes, and any session 12 hours after sign-in', async () => {
    await makeAccount(base, { username: 'op', role: 'operator' });
    const idle = new Browser(base);
    await idle.login('op');
    clock.advanceMinutes(29);
    expect((await idle.request('GET', '/v1/ops/devices')).status).toBe(200);
    clock.advanceMinutes(29);
    expect((await idle.request('GET', '/v1/ops/devices')).status).toBe(200);
    clock.advanceMinutes(31);
    expect((await idle.request('GET', '/v1/ops/devices')).status).toBe(401);

    const busy = new Browser(base);
    await busy.login('op');
    for (let minutes = 0; minutes < 12 * 60 - 25; minutes += 25) {
      clock.advanceMinutes(25);
      expect((await busy.request('GET', '/v1/session')).status, `after ${minutes + 25} min`).toBe(200);
    }
    clock.advanceMinutes(25);
    expect((await busy.request('GET', '/v1/session')).status).toBe(401);
  });

  it('refuses a change sent by cookie that is not JSON (a cross-site form)', async () => {
    const id = await makeAccount(base, { username: 'admin-1', role: 'school-admin', school: 'school-1' });
    const browser = new Browser(base);
    await browser.login('admin-1');
    const form = await browser.request('PATCH', `/v1/accounts/${id}`, 'displayName=x', 'text/plain');
    expect(form.status).toBe(415);
    const formUrlencoded = await browser.request(
      'POST',
      '/v1/accounts',
      'username=x',
      'application/x-www-form-urlencoded',
    );
    expect(formUrlencoded.status).toBe(415);
    expect((await browser.request('PATCH', `/v1/accounts/${id}`, { displayName: 'Admin One' })).status).toBe(
      200,
    );
  });
});

describe('accounts', () => {
  it('disabling an account or setting its password ends its sessions', async () => {
    await makeAccount(base, { username: 'school-admin', role: 'school-admin', school: 'school-1' });
    const teacherId = await makeAccount(base, {
      username: 'teacher',
      role: 'head-teacher',
      school: 'school-1',
      className: '3A',
    });
    const admin = new Browser(base);
    await admin.login('school-admin');
    const teacher = new Browser(base);
    await teacher.login('teacher');
    expect((await teacher.request('GET', '/v1/session')).status).toBe(200);

    expect(
      (await admin.request('PATCH', `/v1/accounts/${teacherId}`, { password: 'a brand new password' }))
        .status,
    ).toBe(200);
    expect((await teacher.request('GET', '/v1/session')).status).toBe(401);
    expect((await teacher.login('teacher')).status).toBe(401);
    expect((await teacher.login('teacher', 'a brand new password')).status).toBe(200);

    const disabled = await admin.request('PATCH', `/v1/accounts/${teacherId}`, { disabled: true });
    expect(disabled.body).toMatchObject({ account: { disabled: true } });
    expect((await teacher.request('GET', '/v1/session')).status).toBe(401);
    expect((await teacher.login('teacher', 'a brand new password')).status).toBe(401);
    const changes = (await auditOf('&action=accounts.update')).map((e) => e.detail);
    expect(changes).toEqual([
      { changed: ['disabled'], sessionsEnded: 1 },
      { changed: ['password'], sessionsEnded: 1 },
    ]);
  });

  it('changes one’s own password, ending the other sessions but not this one', async () => {
    await makeAccount(base, { username: 'op', role: 'operator', school: 'school-1' });
    const here = new Browser(base);
    const there = new Browser(base);
    await here.login('op');
    await there.login('op');
    const wrong = await here.request('PUT', '/v1/session/password', {
      current: 'not it at all',
      next: 'x'.repeat(12),
    });
    expect(wrong).toMatchObject({ status: 403, body: { error: 'bad-credentials' } });
    const short = await here.request('PUT', '/v1/session/password', { current: PASSWORD, next: 'short' });
    expect(short.status).toBe(400);
    expect(short.body.message).toMatch(/at least 12 characters/);
    const changed = await here.request('PUT', '/v1/session/password', {
      current: PASSWORD,
      next: 'my new passphrase',
    });
    expect(changed.status).toBe(200);
    expect((await here.request('GET', '/v1/session')).status).toBe(200);
    expect((await there.request('GET', '/v1/session')).status).toBe(401);
    expect((await there.login('op', 'my new passphrase')).status).toBe(200);
  });

  it('keeps usernames unique whatever their case, and checks each role’s school and class', async () => {
    await makeAccount(base, { username: 'Zhang.San', role: 'operator' });
    const twin = await asAdmin(base, 'POST', '/v1/accounts', {
      username: 'zhang.san',
      displayName: 'Zhang',
      password: PASSWORD,
      role: 'operator',
    });
    expect(twin).toMatchObject({ status: 409, body: { error: 'username-taken' } });
    const teacher = await asAdmin(base, 'POST', '/v1/accounts', {
      username: 'teacher',
      displayName: 'T',
      password: PASSWORD,
      role: 'head-teacher',
      school: 'school-1',
    });
    expect(teacher).toMatchObject({
      status: 400,
      body: { message: 'a head teacher needs a school and a class' },
    });
    const listed = await asAdmin(base, 'GET', '/v1/accounts');
    expect(JSON.stringify(listed.body)).not.toMatch(/argon2|passwordHash/);
  });

  it('keeps the last enabled district admin, and nobody changes their own role', async () => {
    const chiefId = await makeAccount(base, { username: 'chief', role: 'district-admin' });
    const chief = new Browser(base);
    await chief.login('chief');
    const own = await chief.request('PATCH', `/v1/accounts/${chiefId}`, { role: 'operator' });
    expect(own).toMatchObject({ status: 403, body: { error: 'own-role' } });
    const last = await asAdmin(base, 'PATCH', `/v1/accounts/${chiefId}`, { disabled: true });
    expect(last).toMatchObject({ status: 409, body: { error: 'last-district-admin' } });
    const demote = await asAdmin(base, 'PATCH', `/v1/accounts/${chiefId}`, { role: 'operator' });
    expect(demote.status).toBe(409);
    await makeAccount(base, { username: 'deputy', role: 'district-admin' });
    expect((await asAdmin(base, 'PATCH', `/v1/accounts/${chiefId}`, { disabled: true })).status).toBe(200);
    const denied = (await auditOf('&outcome=denied')).map((e) => e.detail?.reason);
    expect(denied).toEqual(['last-district-admin', 'last-district-admin', 'own-role']);
  });
});

describe('what each role may do (must hold)', () => {
  it('a head teacher reads only their class, an operator changes no account, a school admin stays in their school; every refusal is audited', async () => {
    const ids = {
      chief: await makeAccount(base, { username: 'chief', role: 'district-admin' }),
      admin1: await makeAccount(base, { username: 'admin-1', role: 'school-admin', school: 'school-1' }),
      admin2: await makeAccount(base, { username: 'admin-2', role: 'school-admin', school: 'school-2' }),
      teacher: await makeAccount(base, {
        username: 'teacher-3a',
        role: 'head-teacher',
        school: 'school-1',
        className: '3A',
      }),
      op: await makeAccount(base, { username: 'op-1', role: 'operator', school: 'school-1' }),
    };
    const as = async (username: string) => {
      const browser = new Browser(base);
      expect((await browser.login(username)).status).toBe(200);
      return browser;
    };
    const teacher = await as('teacher-3a');
    const op = await as('op-1');
    const admin1 = await as('admin-1');

    const today = clock.now().toISOString().slice(0, 10);
    const refusals: [Browser, string, string, unknown?][] = [
      [teacher, 'GET', `/v1/attendance/school-1/days/${today}?class=3B`],
      [teacher, 'GET', `/v1/attendance/school-1/days/${today}`],
      [teacher, 'GET', `/v1/attendance/school-2/days/${today}?class=3A`],
      [teacher, 'GET', '/v1/events?school=school-1'],
      [teacher, 'GET', '/v1/ops/devices'],
      [teacher, 'GET', '/v1/accounts'],
      [op, 'GET', '/v1/accounts'],
      [
        op,
        'POST',
        '/v1/accounts',
        { username: 'sneaky', displayName: 'S', password: PASSWORD, role: 'operator', school: 'school-1' },
      ],
      [op, 'PATCH', `/v1/accounts/${ids.teacher}`, { disabled: true }],
      [op, 'PATCH', `/v1/accounts/${ids.op}`, { role: 'school-admin' }],
      [op, 'GET', '/v1/audit'],
      [op, 'GET', '/v1/ops/devices?school=school-2'],
      [admin1, 'GET', '/v1/accounts?school=school-2'],
      [admin1, 'PATCH', `/v1/accounts/${ids.admin2}`, { displayName: 'taken over' }],
      [admin1, 'PATCH', `/v1/accounts/${ids.chief}`, { disabled: true }],
      [admin1, 'PATCH', `/v1/accounts/${ids.op}`, { school: 'school-2' }],
      [admin1, 'PATCH', `/v1/accounts/${ids.op}`, { role: 'district-admin', school: null }],
      [
        admin1,
        'POST',
        '/v1/accounts',
        { username: 'boss', displayName: 'B', password: PASSWORD, role: 'district-admin' },
      ],
      [
        admin1,
        'POST',
        '/v1/accounts',
        { username: 'roamer', displayName: 'R', password: PASSWORD, role: 'operator' },
      ],
      [admin1, 'GET', '/v1/audit?school=school-2'],
    ];
    for (const [browser, method, path, body] of refusals) {
      const refused = await browser.request(method, path, body);
      expect(refused.status, `${method} ${path}`).toBe(403);
    }

    // What they may do, they can.
    expect((await teacher.request('GET', `/v1/attendance/school-1/days/${today}?class=3A`)).status).not.toBe(
      403,
    );
    expect((await op.request('GET', '/v1/ops/devices')).status).toBe(200);
    expect(
      (await admin1.request('PATCH', `/v1/accounts/${ids.teacher}`, { displayName: 'Ms Wang' })).status,
    ).toBe(200);
    const audit = await admin1.request('GET', '/v1/audit');
    const seen = audit.body.entries as AuditView[];
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((e) => e.school === 'school-1')).toBe(true);

    const denied = (await auditOf('&outcome=denied')).reverse();
    expect(
      denied.map(
        (e) => `${e.actor} ${(e.detail as { method: string }).method} ${(e.detail as { url: string }).url}`,
      ),
    ).toEqual(
      refusals.map(([browser, method, path]) => {
        const actor = browser === teacher ? 'teacher-3a' : browser === op ? 'op-1' : 'admin-1';
        return `${actor} ${method} ${path}`;
      }),
    );
  });
});
