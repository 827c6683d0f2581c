import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CatalogueManifest,
  CatalogueSnapshot,
  CatalogueSnapshotMessage,
  countValidSignatures,
  DEFAULT_LOAN_RULES,
  fromBase64Url,
  sha256Hex,
  topics,
} from '@educard/terminal-sdk';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseBridgeConfig } from '../config/index.js';
import { RosterKeyring } from '../roster/index.js';
import { Bridge } from '../runtime/index.js';
import { libraryRecords } from '../store/conformance.js';
import { openSqliteStore } from '../store/index.js';
import { MIGRATIONS } from '../store/migrations.js';
import { replayItem } from './index.js';
import { LoanLedger } from './loans.js';

const TOKEN = 'library-admin-token-0123456789';
let dir: string;
let bridge: Bridge;

async function call(method: string, path: string, body?: unknown, type = 'application/json') {
  const response = await fetch(`${bridge.httpUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': type }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The retained catalogue manifest, as a gateway subscribing now would get it. */
async function retained(): Promise<CatalogueSnapshotMessage> {
  const topic = topics.catalogueSnapshot('school-1');
  const message = new Promise<Buffer>((resolve) => {
    const listener = (t: string, payload: Buffer) => {
      if (t !== topic) return;
      bridge.client.off('message', listener);
      resolve(payload);
    };
    bridge.client.on('message', listener);
  });
  await bridge.client.subscribeAsync(topic, { qos: 1 });
  const payload = await message;
  await bridge.client.unsubscribeAsync(topic);
  return CatalogueSnapshotMessage.parse(JSON.parse(payload.toString()));
}

const CSV = [
  'item_id,title,call_number,status',
  '9787020002207,Dream of the Red Chamber,I242.4/C32,',
  '9787544253994,One Hundred Years of Solitude,I775.45/M37,',
  'REF-0001,Xinhua Dictionary,H163/X5,reference',
].join('\n');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-library-'));
  bridge = await Bridge.start(
    parseBridgeConfig({ dataDir: dir, adminToken: TOKEN, mqtt: { port: 0 }, http: { port: 0 } }),
    pino({ level: 'silent' }),
  );
});
afterEach(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('catalogue import', () => {
  it('reports every bad row and changes nothing; a dry run publishes nothing', async () => {
    const bad = `${CSV}\n9787020002207,Repeated,,\n,No id,,\nX1,Wrong status,,lent`;
    const refused = await call('POST', '/v1/catalogue/school-1/import', bad, 'text/csv');
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ ok: false, dryRun: true });
    expect((refused.body.problems as { line: number; problem: string }[]).map((p) => p.line)).toEqual([
      5, 6, 7,
    ]);
    expect((refused.body.problems as { problem: string }[])[0]?.problem).toBe('item id repeats line 2');
    const dry = await call('POST', '/v1/catalogue/school-1/import?dryRun=true', CSV, 'text/csv');
    expect(dry).toMatchObject({ status: 200, body: { ok: true, dryRun: true, added: 3 } });
    expect(dry.body.version).toBeUndefined();
    expect((await call('GET', '/v1/catalogue/school-1')).status).toBe(404);
  });

  it('signs, stores and publishes a version; rules come with a JSON import or on their own', async () => {
    const first = await call('POST', '/v1/catalogue/school-1/import', CSV, 'text/csv');
    expect(first).toMatchObject({
      status: 200,
      body: { ok: true, version: 1, added: 3, updated: 0, removed: 0, unchanged: 0, problems: [] },
    });
    const message = await retained();
    expect(message.url).toMatch(/^\/v1\/catalogue\/school-1\/snapshots\/1\?grant=\d+\.[\w-]{43}$/);
    const manifest = CatalogueManifest.parse(message.manifest.signed);
    expect(manifest).toMatchObject({
      type: 'catalogue-manifest',
      school: 'school-1',
      version: 1,
      keySetVersion: 1,
    });
    const keyring = await RosterKeyring.open(dir);
    const trusted = new Map(keyring.latest.roster.keys.map((k) => [k.keyId, fromBase64Url(k.publicKey)]));
    expect(countValidSignatures(message.manifest, trusted)).toBe(1);

    const fetched = await fetch(`${bridge.httpUrl}${message.url}`);
    const bytes = new Uint8Array(await fetched.arrayBuffer());
    expect(bytes.length).toBe(manifest.body.length);
    expect(sha256Hex(bytes)).toBe(manifest.body.sha256);
    const body = CatalogueSnapshot.parse(JSON.parse(Buffer.from(bytes).toString()));
    expect(body.rules).toEqual(DEFAULT_LOAN_RULES);
    expect(body.items.find((i) => i.itemId === 'REF-0001')).toEqual({
      itemId: 'REF-0001',
      title: 'Xinhua Dictionary',
      callNumber: 'H163/X5',
      status: 'reference',
    });
    // Without the grant the bridge published, the body is not served (401), whether or not it exists.
    expect((await fetch(`${bridge.httpUrl}/v1/catalogue/school-1/snapshots/1`)).status).toBe(401);
    expect((await fetch(`${bridge.httpUrl}/v1/catalogue/school-1/snapshots/9`)).status).toBe(401);

    const rules = { ...DEFAULT_LOAN_RULES, student: { loanLimit: 3, loanDays: 21, renewals: 1 } };
    const second = await call('POST', '/v1/catalogue/school-1/import', {
      items: [
        { itemId: '9787020002207', title: 'Dream of the Red Chamber', callNumber: 'I242.4/C32' },
        { itemId: '9787544253994', title: 'One Hundred Years of Solitude (2nd ed.)' },
        { itemId: 'NEW-1', title: 'A New Book' },
      ],
      rules,
    });
    expect(second.body).toMatchObject({
      ok: true,
      version: 2,
      added: 1,
      updated: 1,
      removed: 1,
      unchanged: 1,
      rulesChanged: true,
    });
    const same = await call('PUT', '/v1/catalogue/school-1/rules', rules);
    expect(same.body).toMatchObject({ version: 2, changed: false });
    const third = await call('PUT', '/v1/catalogue/school-1/rules', {
      ...rules,
      teacher: { ...rules.teacher, loanLimit: 30 },
    });
    expect(third.body).toMatchObject({ version: 3, changed: true });
    expect(await call('GET', '/v1/catalogue/school-1')).toMatchObject({
      status: 200,
      body: { version: 3, items: 3, rules: { teacher: { loanLimit: 30 } } },
    });
    expect((await retained()).url).toMatch(/^\/v1\/catalogue\/school-1\/snapshots\/3\?grant=/);
    expect((await call('PUT', '/v1/catalogue/school-1/rules', { student: {} })).status).toBe(400);
  });

  it('needs the admin token', async () => {
    const response = await fetch(`${bridge.httpUrl}/v1/catalogue/school-1/import`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: CSV,
    });
    expect(response.status).toBe(401);
  });
});

describe('loan ledger over HTTP', () => {
  it('lists open loans and conflicts from the events committed', async () => {
    const at = (day: number) => new Date(Date.UTC(2026, 10, day, 2)).toISOString();
    bridge.store.commitRecords(
      'lib-a',
      'school-1',
      libraryRecords('lib-a', [
        ['library.checkout', at(2), { loanId: 'lib-a:t1', itemId: 'B1', personId: 'p1', dueAt: at(16) }],
        ['library.checkout', at(2), { loanId: 'lib-a:t2', itemId: 'B2', personId: 'p1', dueAt: at(16) }],
        ['library.return', at(3), { loanId: 'lib-a:t2', itemId: 'B2' }],
      ]),
    );
    bridge.store.commitRecords(
      'lib-b',
      'school-1',
      libraryRecords('lib-b', [
        ['library.checkout', at(4), { loanId: 'lib-b:t1', itemId: 'B1', personId: 'p2', dueAt: at(18) }],
      ]),
    );
    const open = await call('GET', '/v1/library/school-1/loans?open=true');
    expect((open.body.loans as { loanId: string }[]).map((l) => l.loanId)).toEqual(['lib-a:t1', 'lib-b:t1']);
    const all = await call('GET', '/v1/library/school-1/loans?person=p1');
    expect(all.body.loans).toHaveLength(2);
    const conflicts = await call('GET', '/v1/library/school-1/conflicts');
    expect(conflicts.body.conflicts).toMatchObject([
      {
        itemId: 'B1',
        loanId: 'lib-a:t1',
        otherLoanId: 'lib-b:t1',
        loans: [{ device: 'lib-a' }, { device: 'lib-b' }],
      },
    ]);
    expect((await call('GET', '/v1/library/school-1/loans?limit=0')).status).toBe(400);
  });
});

describe('the ledger of a database made before it', () => {
  it('is built from the library events already stored when the bridge is upgraded', () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    for (const step of MIGRATIONS.slice(0, 4)) old.exec(step);
    old.pragma('user_version = 4');
    const records = libraryRecords('lib-a', [
      [
        'library.checkout',
        '2026-11-02T02:00:00.000Z',
        { loanId: 'lib-a:t1', itemId: 'B1', personId: 'p1', dueAt: '2026-11-16T02:00:00.000Z' },
      ],
    ]);
    for (const r of records) {
      old
        .prepare(
          'INSERT INTO events (device, school, seq, at, type, person_id, record, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(r.device, 'school-1', r.seq, r.at, r.type, 'p1', JSON.stringify(r), r.at);
    }
    old.close();
    const store = openSqliteStore(path);
    expect(new LoanLedger(store).loans('school-1', { open: true, limit: 10 }).map((l) => l.loanId)).toEqual([
      'lib-a:t1',
    ]);
    store.close();
  });
});

describe('replaying an item', () => {
  it('counts a checkout under a loan id seen before once, and renews the open loan', () => {
    const events = [
      {
        eventId: 1,
        device: 'a',
        at: '2026-11-01T00:00:00.000Z',
        type: 'library.checkout',
        data: { loanId: 'a:1', personId: 'p1', dueAt: '2026-11-15T00:00:00.000Z' },
      },
      {
        eventId: 2,
        device: 'a',
        at: '2026-11-01T00:00:00.000Z',
        type: 'library.checkout',
        data: { loanId: 'a:1', personId: 'p1', dueAt: '2026-11-15T00:00:00.000Z', source: 'sip2-replayed' },
      },
      {
        eventId: 3,
        device: 'a',
        at: '2026-11-10T00:00:00.000Z',
        type: 'library.renew',
        data: { loanId: 'a:1', dueAt: '2026-11-24T00:00:00.000Z', renewals: 1 },
      },
    ];
    const { loans, conflicts } = replayItem('school-1', 'B1', events);
    expect(conflicts).toEqual([]);
    expect(loans).toMatchObject([
      { loanId: 'a:1', dueAt: '2026-11-24T00:00:00.000Z', renewals: 1, source: 'local' },
    ]);
  });
});
