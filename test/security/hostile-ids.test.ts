import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@educard/cloud-bridge';
import { sampleCard } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBridge } from '../support/cli.js';
import { exited } from '../support/processes.js';
import { SET_UP_MS, serve } from './identity-harness.js';

/**
 * Hostile ids in every path parameter and school query of the bridge, attacked over HTTP with the
 * admin token (the district admin the reproduction used), against `educard-bridge serve` as
 * a child process; then a database holding the rows an older bridge let in, which must not keep the
 * bridge from starting (issue 14, defect 7).
 */

const HOSTILE = ['..%2F..%2Fx', 'a%20b', '.hidden', 'x%00y', 'x%2Fy', 'a'.repeat(65), '-lead', 'x%0Ay'];

/**
 * Every route that takes an id in its path (school, card, device, person, rollout, release version,
 * file SHA-256) or a school in its query, with {id} where the hostile id goes.
 */
const ROUTES: [method: string, path: string, body?: unknown][] = [
  ['POST', '/v1/roster/{id}/import', { cards: [] }],
  ['GET', '/v1/roster/{id}/snapshots/1'],
  ['GET', '/v1/catalogue/{id}/snapshots/1'],
  ['POST', '/v1/catalogue/{id}/import', { items: [] }],
  ['PUT', '/v1/catalogue/{id}/rules', {}],
  ['GET', '/v1/catalogue/{id}'],
  ['GET', '/v1/library/{id}/loans'],
  ['GET', '/v1/library/{id}/conflicts'],
  ['GET', '/v1/library/{id}/overdue'],
  ['GET', '/v1/library/{id}/overdue.csv'],
  ['GET', '/v1/attendance/{id}/days/today'],
  ['GET', '/v1/attendance/{id}/trend'],
  ['GET', '/v1/attendance/{id}/consecutive-absences'],
  ['GET', '/v1/schools/{id}/lockdown'],
  ['POST', '/v1/schools/{id}/lockdown', { active: true, reason: 'drill' }],
  ['PUT', '/v1/schools/{id}/times', { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' }],
  ['PUT', '/v1/schools/{id}/classes/c1', { name: 'c1' }],
  ['POST', '/v1/cards/{id}/lost'],
  ['POST', '/v1/cards/{id}/reissue', {}],
  ['POST', '/v1/devices/{id}/revoke'],
  ['POST', '/v1/devices/{id}/commands', { name: 'door.open' }],
  ['POST', '/v1/devices/{id}/tags', { add: ['pilot'] }],
  ['GET', '/v1/rollouts/{id}'],
  ['POST', '/v1/rollouts/{id}/pause'],
  ['POST', '/v1/releases/{id}/remove'],
  ['GET', '/v1/releases/files/{id}'],
  ['POST', '/v1/people/{id}/transfer', { to: 'school-1' }],
  ['GET', '/v1/people/{id}/export'],
  ['PATCH', '/v1/accounts/{id}', { disabled: true }],
  ['POST', '/v1/central/dead-letters/{id}/retry'],
  ['POST', '/v1/notices/deliveries/{id}/retry'],
  ['POST', '/v1/ops/alarms/{id}/ack'],
  ['POST', '/v1/ops/alarms/{id}/clear'],
  ['POST', '/v1/people/{id}/remove'],
  ['GET', '/v1/ops/transfers?school={id}'],
  ['GET', '/v1/ops/cards/{id}'],
  ['GET', '/v1/devices?school={id}'],
  ['GET', '/v1/events?school={id}'],
  ['GET', '/v1/ops/alarms?school={id}'],
  ['GET', '/v1/ops/devices?school={id}'],
  ['GET', '/v1/central/status?school={id}'],
  ['GET', '/v1/notices/status?school={id}'],
  ['GET', '/v1/accounts?school={id}'],
  ['GET', '/v1/audit?school={id}'],
  ['POST', '/v1/tokens', { school: '{id}' }],
  ['GET', '/v1/venues/{id}/bookings'],
  [
    'POST',
    '/v1/venues/{id}/bookings',
    { school: 'school-1', class: 'c1', date: '2030-01-07', from: '09:00', until: '10:00' },
  ],
  ['POST', '/v1/venues/bookings/{id}/cancel'],
  ['GET', '/v1/ops/venues/visits?school={id}'],
];

let dir: string;
let config: string;
let token: string;
let bridge: Awaited<ReturnType<typeof serve>>;

const outbox = () => join(dir, 'outbox');

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${bridge.http}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: await response.text() };
}

/** The body with every "{id}" string replaced by the hostile id. */
const withId = (body: unknown, id: string): unknown =>
  JSON.parse(JSON.stringify(body), (_key, value) => (value === '{id}' ? id : value));

async function stopBridge() {
  bridge.child.process.kill('SIGTERM');
  expect(await exited(bridge.child.process)).toBe(0);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hostile-ids-'));
  ({ config } = await initBridge(dir));
  const settings = JSON.parse(await readFile(config, 'utf8'));
  settings.central = {
    mode: 'file',
    files: {
      inboxDir: join(dir, 'inbox'),
      outboxDir: outbox(),
      exportIntervalMs: 100,
      importIntervalMs: 100,
    },
  };
  await writeFile(config, JSON.stringify(settings));
  token = settings.adminToken;
  bridge = await serve(config);
}, SET_UP_MS);
afterAll(async () => {
  if (bridge && bridge.child.process.exitCode === null) await stopBridge();
  await rm(dir, { recursive: true, force: true });
});

describe('hostile ids in paths and queries', () => {
  it('answers 400 to every route given an id that is no identifier, and commits nothing', async () => {
    for (const [method, template, body] of ROUTES) {
      for (const id of HOSTILE) {
        const path = template.replace('{id}', id);
        const sent = body === undefined ? undefined : withId(body, decodeURIComponent(id));
        const answer = await call(method, path, sent);
        expect(answer.status, `${method} ${path}: ${answer.body}`).toBe(400);
      }
    }
    const health = (await (await fetch(`${bridge.http}/health`)).json()) as { ok: boolean };
    expect(health.ok).toBe(true);
    const schools = (await call('GET', '/v1/schools')).body;
    expect(JSON.parse(schools)).toEqual({ schools: [] });
  });

  it('still serves a school whose id is good, so the refusals above are the ids, not the routes', async () => {
    const card = sampleCard(1, {}, 'school-1');
    const imported = await call('POST', '/v1/roster/school-1/import', { cards: [card] });
    expect(imported.status, imported.body).toBe(200);
    expect((await call('POST', `/v1/cards/${card.cardId}/lost`)).status).toBe(200);
  });
});

describe('a database holding rows an older bridge let in', () => {
  it('starts anyway: each bad row is skipped, logged and raised as data.invalid, the good ones served', {
    timeout: 240_000,
  }, async () => {
    await stopBridge();
    const store = openSqliteStore(join(dir, 'data', 'bridge.db'));
    const db = store.database;
    const good = db
      .prepare('SELECT * FROM roster_versions WHERE school = ? ORDER BY version DESC LIMIT 1')
      .get('school-1') as Record<string, unknown>;
    for (const school of ['../../x', 'a b']) {
      db.prepare(
        'INSERT INTO roster_versions (school, version, snapshot_manifest, snapshot_body, delta_manifest, delta_body, created_at) VALUES (?, 1, ?, ?, NULL, NULL, ?)',
      ).run(school, good.snapshot_manifest, good.snapshot_body, good.created_at);
      db.prepare(
        'INSERT INTO catalogue_versions (school, version, manifest, body, created_at) VALUES (?, 1, ?, ?, ?)',
      ).run(school, '{"signed":{}}', Buffer.from('{}'), good.created_at);
      db.prepare('INSERT INTO directory_schools (id, entry) VALUES (?, ?)').run(
        school,
        JSON.stringify({
          id: school,
          name: school,
          times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
        }),
      );
    }
    // A manifest that does not parse, under a good id: skipped too, and the rest still announced.
    db.prepare(
      'INSERT INTO roster_versions (school, version, snapshot_manifest, snapshot_body, created_at) VALUES (?, 1, ?, ?, ?)',
    ).run('school-2', 'not json', Buffer.from('{}'), good.created_at);
    store.close();

    bridge = await serve(config);
    const health = (await (await fetch(`${bridge.http}/health`)).json()) as { ok: boolean };
    expect(health.ok).toBe(true);
    const { alarms } = JSON.parse((await call('GET', '/v1/ops/alarms?open=true')).body) as {
      alarms: { kind: string; message: string; count: number }[];
    };
    const invalid = alarms.filter((alarm) => alarm.kind === 'data.invalid');
    expect(invalid).toHaveLength(1);
    expect(invalid[0]?.count).toBeGreaterThanOrEqual(5);
    const skipped = bridge.child.lines.filter(
      (line) => line.msg === 'stored row skipped: the bridge cannot use it',
    );
    expect(skipped.map((line) => `${line.what} ${line.key}`)).toEqual(
      expect.arrayContaining([
        'roster version "../../x"',
        'roster version "a b"',
        'roster version "school-2"',
        'catalogue version "../../x"',
        'catalogue version "a b"',
      ]),
    );
    // The good school is announced and served as before.
    expect((await call('POST', '/v1/cards/E000000001/reactivate')).status).toBe(200);
    // And file mode names no file from a bad id: nothing is written beside or above the outbox.
    await bridge.child.waitFor((line) => line.what === 'school' && line.key === '"../../x"');
    expect((await readdir(dir)).sort()).toEqual([
      'anchor.json',
      'bridge.json',
      'data',
      'inbox',
      'outbox',
      'usb',
    ]);
    expect((await readdir(outbox())).every((name) => !name.includes('..') && !name.includes(' '))).toBe(true);
  });
});
