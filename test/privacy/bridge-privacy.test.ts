import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bridge, SUBJECT_CSV_COLUMNS } from '@educard/cloud-bridge';
import { libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { type CardEntry, localDate } from '@educard/terminal-sdk';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, Browser, makeAccount } from '../support/accounts.js';
import { ADMIN_TOKEN, startBridge } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';
import { commitTaps } from '../support/gate-passages.js';
import { cardPupils } from '../support/school-day.js';

// A bridge on the real clock (every date derived from it), the pupils' data read through the API by
// accounts of each role, exported, and a pupil leaving the district anonymised after a retention of
// 0 days (the test's shortening of the default year).

const ZONE = 'Asia/Shanghai';
const SCHOOL = 's-p';
const calendar = { timeZone: ZONE, holidays: [], closures: [], makeUpDays: [] };
const pupil = (n: number, className: string): CardEntry =>
  sampleCard(
    n,
    { ...validAround(Date.now()), class: className, displayName: `Pupil ${n}`, schedules: [] },
    SCHOOL,
  );
const cards = [pupil(1, '3-1'), pupil(2, '3-1'), pupil(3, '3-2')];
const [first, second] = cards as [CardEntry, CardEntry];
const STUDENT_NUMBERS = ['G110101201001011234', 'G110101201002022345', 'G110101201003033456'];
const today = localDate(Date.now(), ZONE);

let dir: string;
let bridge: Bridge;

/** The audit entries the filter finds, once the batched reads are written. */
const audited = async (query: string) => {
  bridge.reads.flush();
  return ((await asAdmin(bridge.httpUrl, 'GET', `/v1/audit?${query}`)).body.entries ?? []) as {
    actor: string;
    role?: string;
    action: string;
    target?: string;
    school?: string;
    at: string;
  }[];
};

/** Each table's rows (the audit log aside) that hold one of the strings, as `table: row`. */
function rowsNaming(strings: string[]): string[] {
  const db = bridge.store.database;
  const tables = db
    .prepare<[], string>(
      db.dialect === 'sqlite'
        ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        : 'SELECT tablename FROM pg_tables WHERE schemaname = current_schema()',
    )
    .pluck()
    .all()
    .filter((table) => table !== 'audit_log');
  return tables.flatMap((table) =>
    db
      .prepare(`SELECT * FROM ${table}`)
      .all()
      .map((row) => JSON.stringify(row))
      .filter((row) => strings.some((s) => row.includes(s)))
      .map((row) => `${table}: ${row}`),
  );
}

async function signedIn(username: string, role: string, extra: Record<string, string> = {}) {
  await makeAccount(bridge.httpUrl, { username, role, school: SCHOOL, ...extra });
  const browser = new Browser(bridge.httpUrl);
  expect((await browser.login(username)).status).toBe(200);
  return browser;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-privacy-'));
  bridge = await startBridge(dir, {
    http: { port: 0, pages: false },
    retention: { leaverDays: 0 },
    // A receiver that is never there: the first pupil's passage and refusal notices are given up and kept.
    notices: {
      tickMs: 50,
      webhooks: [
        {
          school: SCHOOL,
          url: 'http://127.0.0.1:9/educard',
          secret: 's'.repeat(32),
          refusals: true,
          debounceMs: 0,
          batchWindowMs: 0,
          maxAttempts: 1,
        },
      ],
    },
  });
  const imported = await asAdmin(bridge.httpUrl, 'POST', `/v1/roster/${SCHOOL}/import`, { cards, calendar });
  expect(imported.status).toBe(200);
  // The directory as the central feed fills it: the pupils with their student-status numbers, and a
  // sick leave of the first.
  cardPupils(bridge.directory, cards, STUDENT_NUMBERS);
  bridge.directory.putLeave({
    id: 'leave-1',
    personId: first.personId,
    school: SCHOOL,
    from: today,
    to: today,
    kind: 'sick',
    cancelled: false,
  });
  const now = Date.now();
  commitTaps(bridge, 'gate-p', SCHOOL, [
    { personId: first.personId, at: new Date(now - 60_000).toISOString(), direction: 'in' },
    { personId: second.personId, at: new Date(now - 50_000).toISOString(), direction: 'in' },
    { personId: first.personId, at: new Date(now - 40_000).toISOString(), direction: 'out' },
    { personId: first.personId, at: new Date(now - 30_000).toISOString(), direction: 'in', decision: 'deny' },
  ]);
});
afterAll(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('reads of personal data are audited', () => {
  it('a head teacher reading their class’s attendance makes one entry, found by reader and by class', async () => {
    const teacher = await signedIn('head-31', 'head-teacher', { className: '3-1' });
    const before = Date.now();
    const day = await teacher.request('GET', `/v1/attendance/${SCHOOL}/days/${today}?class=3-1`);
    expect(day.status).toBe(200);
    // Refused reads are the guard's `denied` entries, not reads.
    expect((await teacher.request('GET', `/v1/attendance/${SCHOOL}/days/${today}?class=3-2`)).status).toBe(
      403,
    );
    const entries = await audited('actor=head-31&action=read.attendance.day');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actor: 'head-31',
      role: 'head-teacher',
      target: `class:${SCHOOL}/3-1`,
      school: SCHOOL,
    });
    expect(Date.parse(entries[0]?.at ?? '')).toBeGreaterThanOrEqual(before - 1000);
  });

  it('a pupil’s events, the CSV, the card lookup and the live stream are reads too; the pupil filter finds theirs', async () => {
    const admin = await signedIn('admin-p', 'school-admin');
    expect((await admin.request('GET', `/v1/events?school=${SCHOOL}&person=${first.personId}`)).status).toBe(
      200,
    );
    const csv = await fetch(`${bridge.httpUrl}/v1/attendance/${SCHOOL}/days/${today}.csv`, {
      headers: { cookie: admin.cookie ?? '' },
    });
    expect(csv.status).toBe(200);
    expect((await admin.request('GET', `/v1/ops/cards/${second.cardId}`)).status).toBe(200);
    const stream = new AbortController();
    const response = await fetch(`${bridge.httpUrl}/v1/ops/stream?school=${SCHOOL}`, {
      headers: { cookie: admin.cookie ?? '' },
      signal: stream.signal,
    });
    expect(response.status).toBe(200);
    stream.abort();
    await expect
      .poll(async () =>
        (await audited('actor=admin-p'))
          .map((e) => e.action)
          .filter((action) => action.startsWith('read.'))
          .sort(),
      )
      .toEqual(['read.attendance.csv', 'read.card.lookup', 'read.events', 'read.events.stream']);
    const theirs = await audited(`target=person:${first.personId}`);
    expect(theirs.map((e) => [e.actor, e.action])).toEqual([['admin-p', 'read.events']]);
    expect((await audited(`target=card:${second.cardId}`)).map((e) => e.action)).toEqual([
      'read.card.lookup',
    ]);
  });
});

describe('a subject-access export', () => {
  it('gives a school admin everything on one pupil as JSON and CSV, audited; a head teacher may not', async () => {
    const admin = await signedIn('admin-x', 'school-admin');
    // A book they borrowed, named by its title: a barcode tells a parent nothing.
    const items = [{ itemId: 'B1', title: 'The Little Prince' }];
    expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/catalogue/${SCHOOL}/import`, { items })).status).toBe(
      200,
    );
    const lent = {
      loanId: 'desk-p:0',
      itemId: 'B1',
      personId: first.personId,
      dueAt: new Date().toISOString(),
    };
    bridge.store.commitRecords(
      'desk-p0',
      SCHOOL,
      libraryRecords('desk-p0', [['library.checkout', new Date().toISOString(), lent]]),
    );
    const json = await admin.request('GET', `/v1/people/${first.personId}/export`);
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({
      personId: first.personId,
      cards: [{ cardId: first.cardId, displayName: 'Pupil 1' }],
      loans: [{ loanId: 'desk-p:0', itemId: 'B1', title: 'The Little Prince' }],
      transfers: [],
      leaves: [{ id: 'leave-1', kind: 'sick', from: today, to: today }],
    });
    // Their two passages and their refusal at the gate, and their checkout at the library desk.
    expect((json.body.events as unknown[]).length).toBe(4);
    // The notices to their parents the bridge still holds: their own two passages and their refusal,
    // given up (no receiver), the other pupil's notice in the same delivery left out.
    // Every export is audited: the test counts those it makes.
    let exportsMade = 1;
    const held = async () => {
      exportsMade += 1;
      return (await admin.request('GET', `/v1/people/${first.personId}/export`)).body.notices as {
        status: string;
        notice: { personId: string; direction?: string; kind?: string };
      }[];
    };
    await expect
      .poll(
        async () =>
          (await held()).map((n) => [n.notice.personId, n.notice.kind ?? n.notice.direction, n.status]),
        { timeout: 10_000 },
      )
      .toEqual([
        [first.personId, 'in', 'failed'],
        [first.personId, 'out', 'failed'],
        [first.personId, 'refused', 'failed'],
      ]);
    const csv = await fetch(`${bridge.httpUrl}/v1/people/${first.personId}/export?format=csv`, {
      headers: { cookie: admin.cookie ?? '' },
    });
    exportsMade += 1;
    expect([csv.status, csv.headers.get('content-type')]).toEqual([200, expect.stringMatching(/text\/csv/)]);
    const lines = (await csv.text()).trim().split(/\r?\n/);
    expect(lines[0]).toBe(SUBJECT_CSV_COLUMNS.join(','));
    expect(lines.filter((l) => l.startsWith('event,'))).toHaveLength(4);
    expect(lines.filter((l) => l.startsWith('loan,'))).toEqual([
      expect.stringContaining('The Little Prince'),
    ]);
    expect(lines.filter((l) => l.startsWith('card,'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('notice,'))).toEqual([
      expect.stringMatching(new RegExp(`^notice,[^,]+,${SCHOOL},passage,`)),
      expect.stringMatching(new RegExp(`^notice,[^,]+,${SCHOOL},passage,`)),
      expect.stringMatching(new RegExp(`^notice,[^,]+,${SCHOOL},refused,`)),
    ]);
    expect(lines.filter((l) => l.startsWith('leave,'))).toEqual([
      expect.stringMatching(new RegExp(`^leave,${today},${SCHOOL},sick,leave-1,`)),
    ]);
    const exports = await audited(`action=people.export&target=person:${first.personId}`);
    expect(exports.map((e) => e.actor)).toEqual(Array(exportsMade).fill('admin-x'));

    const teacher = await signedIn('head-x', 'head-teacher', { className: '3-1' });
    expect((await teacher.request('GET', `/v1/people/${first.personId}/export`)).status).toBe(403);
    // A school admin cannot learn whether someone is known elsewhere; the district gets a 404.
    expect((await admin.request('GET', '/v1/people/p-nobody-here/export')).status).toBe(403);
    expect((await asAdmin(bridge.httpUrl, 'GET', '/v1/people/p-nobody-here/export')).status).toBe(404);
  });
});

describe('a pupil who leaves the district', () => {
  it('loses their cards at once, and after the retention is anonymised with the counts kept', async () => {
    // Their card was reported lost before: the card's history names them.
    expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/cards/${first.cardId}/lost`)).status).toBe(200);
    const versionBefore = bridge.store.latestRosterVersion(SCHOOL)?.version ?? 0;
    const removed = await asAdmin(bridge.httpUrl, 'POST', `/v1/people/${first.personId}/remove`);
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ school: SCHOOL, cards: [first.cardId] });
    expect(bridge.store.findCard(first.cardId)?.status).toBe('cancelled');
    expect(bridge.store.latestRosterVersion(SCHOOL)?.version).toBe(versionBefore + 1);
    // A school admin may not remove a person from the district.
    const admin = await signedIn('admin-r', 'school-admin');
    expect((await admin.request('POST', `/v1/people/${second.personId}/remove`, {})).status).toBe(403);

    // Their passage notices were given up (no receiver): kept for the office to send again.
    await expect
      .poll(() => bridge.notices.status().at(0)?.failed ?? 0, { timeout: 10_000 })
      .toBeGreaterThan(0);
    const passagesBefore = bridge.attendance
      .attendanceDay(SCHOOL, today)
      .classes.find((c) => c.class === '3-1');
    const report = await bridge.retention.runOnce();
    expect(report.anonymised).toBe(1);
    expect(bridge.store.queryEvents({ personId: first.personId, limit: 10 })).toEqual([]);
    expect(bridge.directory.person(first.personId)).toBeUndefined();
    const anonymised = bridge.store
      .queryEvents({ school: SCHOOL, limit: 10 })
      .filter((e) => e.record.data.personId !== second.personId);
    expect(anonymised).toHaveLength(4);
    for (const event of anonymised) {
      expect(String(event.record.data.personId)).toMatch(/^anon-/);
      expect(event.record.data).not.toHaveProperty('cardId');
    }
    // The refused entry attendance keeps is theirs no more either, nor the record that their parents
    // were told of it (the register's).
    const refusals = bridge.store.database.prepare('SELECT person_id FROM gate_refusals').pluck().all();
    expect(refusals).toEqual([expect.stringMatching(/^anon-/)]);
    // The class's counts are the same: the pupil counts, under a pseudonym.
    const passagesAfter = bridge.attendance
      .attendanceDay(SCHOOL, today)
      .classes.find((c) => c.class === '3-1');
    expect(passagesAfter?.counts).toEqual(passagesBefore?.counts);
    const entry = (await audited('action=people.anonymise'))[0];
    expect(entry?.target).toMatch(/^person:anon-/);
    expect(JSON.stringify(await audited('action=people.anonymise'))).not.toContain(first.personId);
    // Nothing is left under their id: no event, no directory record, and their cancelled card is off
    // the school's roster (a new snapshot; its gates deny it as an unknown card). The export knows
    // no such person.
    expect(bridge.store.findCard(first.cardId)).toBeUndefined();
    const left = await asAdmin(bridge.httpUrl, 'GET', `/v1/people/${first.personId}/export`);
    expect(left.status).toBe(404);
    // Nor in any table but the audit log (kept to its own retention): their id, name or number. The
    // given-up delivery is kept for the office without their notices, with the other pupil's.
    expect(rowsNaming([first.personId, first.displayName as string, STUDENT_NUMBERS[0] as string])).toEqual(
      [],
    );
    expect(rowsNaming([second.personId]).filter((row) => row.startsWith('notice_deliveries'))).toHaveLength(
      1,
    );
  });

  it('is removed with educard-bridge people remove, as a district without a feed does it', async () => {
    const cli = (...args: string[]) =>
      bridgeCli(['people', 'remove', ...args, '--url', bridge.httpUrl, '--admin-token', ADMIN_TOKEN]);
    // A book still out at the school library: the removal goes ahead, and names it.
    const dueAt = new Date(Date.now() + 5 * 86_400_000).toISOString();
    bridge.store.commitRecords(
      'desk-p',
      SCHOOL,
      libraryRecords('desk-p', [
        [
          'library.checkout',
          new Date().toISOString(),
          { loanId: 'desk-p:1', itemId: 'B7', personId: second.personId, dueAt },
        ],
      ]),
    );
    const run = await cli(second.personId, '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json()).toMatchObject({
      personId: second.personId,
      cards: [second.cardId],
      booksOut: [
        {
          school: SCHOOL,
          loanId: 'desk-p:1',
          itemId: 'B7',
          dueAt,
          dueDate: expect.stringMatching(/^\d{4}-\d\d-\d\d$/),
        },
      ],
    });
    expect(bridge.store.findCard(second.cardId)?.status).toBe('cancelled');
    const unknown = await cli('p-nobody-here');
    expect([unknown.code, unknown.stderr]).toEqual([1, expect.stringMatching(/no person p-nobody-here/)]);
    expect((await cli('not/an/id')).code).toBe(2);
  });
});
