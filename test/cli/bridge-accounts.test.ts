import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startBridge } from '../support/bridge.js';
import { BRIDGE_CLI, runCommand } from '../support/cli.js';

let dir: string;
let bridge: Bridge;

/** `educard-bridge accounts …` against the bridge of this file, the password on standard input. */
const accounts = (args: string[], password?: string) =>
  runCommand(BRIDGE_CLI, ['accounts', ...args, '--url', bridge.httpUrl, '--admin-token', ADMIN_TOKEN], {
    ...(password !== undefined ? { input: `${password}\n` } : {}),
  });

const signIn = async (username: string, password: string) =>
  (
    await fetch(`${bridge.httpUrl}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    })
  ).status;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-accounts-'));
  bridge = await startBridge(dir, { http: { port: 0, pages: false } });
});
afterAll(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('educard-bridge accounts', () => {
  // Eleven CLI processes, each a Node start and some argon2 hashes: slow on a loaded two-core runner.
  it('creates the first district admin, lists, disables, enables and sets passwords', {
    timeout: 90_000,
  }, async () => {
    const created = await accounts(
      [
        'create',
        '--username',
        'chief',
        '--display-name',
        'Chief Officer',
        '--role',
        'district-admin',
        '--json',
      ],
      'chief password 1',
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.json()).toMatchObject({ account: { username: 'chief', role: 'district-admin' } });
    expect(await signIn('chief', 'chief password 1')).toBe(200);

    const teacher = await accounts(
      [
        'create',
        '--username',
        'wang',
        '--display-name',
        'Ms Wang',
        '--role',
        'head-teacher',
        '--school',
        'school-1',
        '--class',
        '3A',
      ],
      'teacher password',
    );
    expect(teacher.code, teacher.stderr).toBe(0);
    expect(teacher.stdout).toMatch(/wang \(head-teacher of school-1, class 3A\) created/);

    const short = await accounts(
      ['create', '--username', 'x1', '--display-name', 'X', '--role', 'operator'],
      'short',
    );
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/fewer than 12 characters/);
    const taken = await accounts(
      ['create', '--username', 'WANG', '--display-name', 'X', '--role', 'operator'],
      'another password',
    );
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/taken/);
    const listed = await accounts(['list', '--json']);
    expect(listed.json<{ accounts: { username: string }[] }>().accounts.map((a) => a.username)).toEqual([
      'chief',
      'wang',
    ]);
    expect((await accounts(['list', '--school', 'school-1'])).stdout).toMatch(
      /wang\s+Ms Wang\s+head-teacher/,
    );

    expect((await accounts(['disable', 'Wang'])).code).toBe(0);
    expect(await signIn('wang', 'teacher password')).toBe(401);
    expect((await accounts(['enable', 'wang'])).code).toBe(0);
    expect((await accounts(['passwd', 'wang'], 'a new teacher password')).code).toBe(0);
    expect(await signIn('wang', 'a new teacher password')).toBe(200);

    const last = await accounts(['disable', 'chief']);
    expect(last.code).toBe(1);
    expect(last.stderr).toMatch(/last enabled district admin/);
    expect(
      (
        await accounts(
          ['create', '--username', 'y', '--display-name', 'Y', '--role', 'janitor'],
          'x'.repeat(12),
        )
      ).code,
    ).toBe(2);
  });
});
