import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from '../support/attacks.js';
import { ADMIN_TOKEN } from '../support/bridge.js';
import { type BridgeTarget, startBridgeProcess } from '../support/targets.js';

/**
 * The bridge's HTTP API attacked by a stranger and by a signed-in account (issue 14, defects 8 and 9):
 * sign-in floods from one address and from many, the session cookie behind a TLS-terminating proxy,
 * live streams held open, an attendance export for a class that does not exist.
 */
const PASSWORD = 'a long enough password';
const ADDRESS_ATTEMPTS = 5;
const STREAMS_PER_ACCOUNT = 2;

let dir: string;
let bridge: BridgeTarget;

const json = { 'content-type': 'application/json' };
const asAdmin = { ...json, authorization: `Bearer ${ADMIN_TOKEN}` };
const signIn = (username: string, password: string, from: string, headers: Record<string, string> = {}) =>
  send(`${bridge.http}/v1/session`, {
    method: 'POST',
    headers: { ...json, ...headers },
    body: JSON.stringify({ username, password }),
    localAddress: from,
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attack-bridge-http-'));
  bridge = await startBridgeProcess(dir, {
    http: { trustProxy: ['127.0.0.1'] },
    accounts: { addressAttempts: ADDRESS_ATTEMPTS, loginAttempts: 50, queuedPasswordChecks: 2 },
    ops: { streamsPerAccount: STREAMS_PER_ACCOUNT },
  });
  const created = await send(`${bridge.http}/v1/accounts`, {
    method: 'POST',
    headers: asAdmin,
    body: JSON.stringify({ username: 'op', displayName: 'Op', password: PASSWORD, role: 'operator' }),
  });
  expect(created.status, created.body).toBe(201);
}, 120_000);
afterAll(async () => {
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('sign-in', () => {
  it('locks out an address that fails too often, whatever names it tries; other addresses go on', async () => {
    for (let i = 0; i < ADDRESS_ATTEMPTS; i++)
      expect((await signIn(`guess-${i}`, 'wrong password here', '127.0.4.1')).status).toBe(401);
    const locked = await signIn('another-name', 'wrong password here', '127.0.4.1');
    expect(locked.status).toBe(429);
    expect(JSON.parse(locked.body)).toMatchObject({ error: 'throttled' });
    expect(Number(locked.headers['retry-after'])).toBeGreaterThan(0);
    // Even the right password waits out the lock from there; from elsewhere it signs in.
    expect((await signIn('op', PASSWORD, '127.0.4.1')).status).toBe(429);
    expect((await signIn('op', PASSWORD, '127.0.4.2')).status).toBe(200);
  });

  it('answers a flood from many addresses with 503 busy beyond the queue, without hashing each', async () => {
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) => signIn(`flood-${i}`, 'wrong password here', `127.0.5.${1 + i}`)),
    );
    const busy = answers.filter((answer) => answer.status === 503);
    expect(busy.length).toBeGreaterThan(0);
    expect(JSON.parse(busy[0]?.body ?? '{}')).toMatchObject({ error: 'busy' });
    expect(busy[0]?.headers['retry-after']).toBe('1');
    for (const answer of answers) expect([401, 503]).toContain(answer.status);
    expect((await signIn('op', PASSWORD, '127.0.5.200')).status).toBe(200);
  });

  it('sets a Secure cookie behind a trusted TLS-terminating proxy, and believes its X-Forwarded-For', async () => {
    const proxied = await signIn('op', PASSWORD, '127.0.0.1', {
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '10.7.0.1',
    });
    expect(proxied.status).toBe(200);
    expect(String(proxied.headers['set-cookie'])).toMatch(/; Secure/);
    // The same headers from an address that is no trusted proxy are ignored.
    const direct = await signIn('op', PASSWORD, '127.0.4.3', { 'x-forwarded-proto': 'https' });
    expect(direct.status).toBe(200);
    expect(String(direct.headers['set-cookie'])).not.toMatch(/Secure/);
    // Through the proxy, the client it names is the one throttled: not the proxy, not its neighbours.
    for (let i = 0; i < ADDRESS_ATTEMPTS; i++)
      await signIn(`guess-${i}`, 'wrong password here', '127.0.0.1', { 'x-forwarded-for': '10.7.0.2' });
    expect((await signIn('op', PASSWORD, '127.0.0.1', { 'x-forwarded-for': '10.7.0.2' })).status).toBe(429);
    expect((await signIn('op', PASSWORD, '127.0.0.1', { 'x-forwarded-for': '10.7.0.3' })).status).toBe(200);
  });
});

describe('the operations stream', () => {
  it(`holds at most ${STREAMS_PER_ACCOUNT} live streams per account`, async () => {
    const open = () =>
      new Promise<{ status: number; close: () => void }>((resolve, reject) => {
        const request = httpRequest(`${bridge.http}/v1/ops/stream`, { headers: asAdmin, agent: false });
        request.on('response', (response) => {
          response.resume();
          resolve({ status: response.statusCode ?? 0, close: () => request.destroy() });
        });
        request.on('error', reject);
        request.end();
      });
    const streams = [];
    for (let i = 0; i < STREAMS_PER_ACCOUNT + 1; i++) streams.push(await open());
    expect(streams.map((stream) => stream.status)).toEqual([200, 200, 429]);
    for (const stream of streams) stream.close();
  });
});

describe('the attendance export', () => {
  it('answers 404, as JSON, for a class the school does not have', async () => {
    const answer = await send(`${bridge.http}/v1/attendance/school-1/days/today.csv?class=no-such-class`, {
      headers: asAdmin,
    });
    expect(answer.status).toBe(404);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'not-found' });
  });
});
