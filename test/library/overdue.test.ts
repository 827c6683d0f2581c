import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { checkoutEvent, libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { localDate } from '@educard/terminal-sdk';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, Browser, makeAccount, startClockedBridge, TestClock } from '../support/accounts.js';
import { ADMIN_TOKEN } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';

/**
 * The school library's overdue list at the bridge, for a librarian's account: every open loan past
 * its due date, class by class, with the pupil's name and the book's title, as JSON and as a CSV to
 * print. A librarian manages their own library and sees nothing else. On a set clock.
 */

const DAY = 86_400_000;
let dir: string;
let bridge: Bridge;
let base: string;
const clock = new TestClock();
const at = (daysFromNow: number) => new Date(clock.now().getTime() + daysFromNow * DAY).toISOString();

const valid = validAround(clock.now().getTime());
const { class: _none, ...teacher } = sampleCard(4, { displayName: 'Ms Chen', role: 'teacher', ...valid });
const cards = [
  sampleCard(1, { displayName: '王伟', class: '10A', ...valid }),
  sampleCard(2, { displayName: '李芳', class: '3B', ...valid }),
  sampleCard(3, { displayName: 'Zhang Min', class: '3B', ...valid }),
  teacher,
];
const person = (n: number) => cards[n - 1]?.personId as string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'overdue-'));
  bridge = await startClockedBridge(dir, clock);
  base = bridge.httpUrl;
  expect((await asAdmin(base, 'POST', '/v1/roster/school-1/import', { cards })).status).toBe(200);
  const items = ['B1', 'B2', 'B3', 'B4', 'B5'].map((itemId) => ({ itemId, title: `Title of ${itemId}` }));
  expect((await asAdmin(base, 'POST', '/v1/catalogue/school-1/import', { items })).status).toBe(200);
  const lend = (loanId: string, itemId: string, personId: string, dueInDays: number) =>
    checkoutEvent(at(-20), { loanId, itemId, personId, dueAt: at(dueInDays) });
  bridge.store.commitRecords(
    'desk-1',
    'school-1',
    libraryRecords('desk-1', [
      lend('d:1', 'B1', person(1), -3),
      lend('d:2', 'B2', person(2), -1.5),
      lend('d:3', 'B3', person(3), -10),
      lend('d:4', 'B4', person(4), -6),
      // Due in two days, and one returned late: neither is overdue now.
      lend('d:5', 'B5', person(2), 2),
      lend('d:6', 'B6', person(1), -8),
      ['library.return', at(-1), { loanId: 'd:6', itemId: 'B6' }],
    ]),
  );
  await makeAccount(base, { username: 'librarian', role: 'librarian', school: 'school-1' });
  await makeAccount(base, { username: 'head', role: 'head-teacher', school: 'school-1', className: '3B' });
});
afterAll(async () => {
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the overdue list', () => {
  it('lists each open loan past its due date, by class then name, with the title and whole days late', async () => {
    const librarian = new Browser(base);
    await librarian.login('librarian');
    const list = await librarian.request('GET', '/v1/library/school-1/overdue');
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ school: 'school-1', asOf: clock.now().toISOString() });
    const rows = (list.body.loans as Record<string, unknown>[]).map(
      (loan) => `${loan.class ?? '-'} ${loan.name} ${loan.itemId} "${loan.title}" ${loan.daysOverdue}`,
    );
    // Classes by number (3B before 10A), names in pinyin order (李 before Zhang), staff last.
    expect(rows).toEqual([
      '3B 李芳 B2 "Title of B2" 2',
      '3B Zhang Min B3 "Title of B3" 10',
      '10A 王伟 B1 "Title of B1" 3',
      '- Ms Chen B4 "Title of B4" 6',
    ]);
    expect((list.body.loans as Record<string, unknown>[])[3]).toMatchObject({ role: 'teacher' });

    const csv = await fetch(`${base}/v1/library/school-1/overdue.csv`, {
      headers: { cookie: librarian.cookie as string },
    });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(
      /filename="overdue-school-1-\d{4}-\d{2}-\d{2}\.csv"/,
    );
    const bytes = new Uint8Array(await csv.arrayBuffer());
    expect([...bytes.slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = new TextDecoder().decode(bytes.slice(3)).trimEnd().split('\r\n');
    expect(lines[0]).toBe(
      'class,name,person_id,role,item_id,title,due_date,days_overdue,renewals,station,now_at,parents_reminded',
    );
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(
      new RegExp(`^3B,李芳,${person(2)},student,B2,Title of B2,\\d{4}-\\d{2}-\\d{2},2,0,desk-1,,$`),
    );

    // A read of pupils' data: in the audit log, as each of its kind.
    await bridge.reads.flush();
    const reads = (await asAdmin(base, 'GET', '/v1/audit?action=read.library.overdue&limit=10')).body
      .entries as { actor: string; target: string }[];
    expect(reads).toEqual([expect.objectContaining({ actor: 'librarian', target: 'school:school-1' })]);
  });

  it('counts a loan late from the instant it was due, as the desk does', async () => {
    clock.advanceMinutes(2 * 24 * 60);
    const list = await asAdmin(base, 'GET', '/v1/library/school-1/overdue');
    const late = (list.body.loans as { itemId: string; daysOverdue: number }[]).map(
      (loan) => `${loan.itemId} ${loan.daysOverdue}`,
    );
    expect(late).toEqual(['B2 4', 'B3 12', 'B1 5', 'B4 8']);
    // B5 was due two days after the list above: late from the minute after.
    clock.advanceMinutes(1);
    const now = await asAdmin(base, 'GET', '/v1/library/school-1/overdue');
    expect((now.body.loans as { itemId: string; daysOverdue: number }[]).slice(0, 2)).toMatchObject([
      { itemId: 'B2', daysOverdue: 4 },
      { itemId: 'B5', daysOverdue: 1 },
    ]);
  });
});

describe('a librarian account', () => {
  it('manages its own library and reads nothing else', async () => {
    const librarian = new Browser(base);
    await librarian.login('librarian');
    expect((await librarian.request('GET', '/v1/library/school-1/loans?open=true')).status).toBe(200);
    expect((await librarian.request('GET', '/v1/library/school-1/conflicts')).status).toBe(200);
    await bridge.reads.flush();
    const conflictReads = (await asAdmin(base, 'GET', '/v1/audit?action=read.library.conflicts&limit=10'))
      .body.entries as { actor: string }[];
    expect(conflictReads.map((entry) => entry.actor)).toEqual(['librarian']);
    const rules = { loanLimit: 3, loanDays: 21, renewals: 1 };
    const set = await librarian.request('PUT', '/v1/catalogue/school-1/rules', {
      student: rules,
      teacher: rules,
      staff: rules,
    });
    expect(set.status).toBe(200);
    for (const [method, path] of [
      ['GET', '/v1/library/school-2/overdue'],
      ['PUT', '/v1/catalogue/school-2/rules'],
      ['GET', '/v1/attendance/school-1/days/2026-09-01'],
      ['GET', '/v1/devices?school=school-1'],
      ['GET', '/v1/events?school=school-1'],
      ['GET', '/v1/accounts'],
    ] as const)
      expect(
        `${method} ${path} ${(await librarian.request(method, path, method === 'PUT' ? {} : undefined)).status}`,
      ).toBe(`${method} ${path} 403`);
    // A page sends its catalogue file inside JSON (a session may send nothing else).
    const csv =
      'item_id,title\nB1,Title of B1\nB2,Title of B2\nB3,Title of B3\nB4,Title of B4\nB5,Title of B5\n';
    const checked = await librarian.request('POST', '/v1/catalogue/school-1/import', { csv, dryRun: true });
    expect(checked).toMatchObject({
      status: 200,
      body: { ok: true, dryRun: true, unchanged: 5, removed: 0 },
    });
    const both = await librarian.request('POST', '/v1/catalogue/school-1/import', { csv, items: [] });
    expect(both.status).toBe(400);
    const asText = await librarian.request(
      'POST',
      '/v1/catalogue/school-1/import?dryRun=true',
      csv,
      'text/csv',
    );
    expect(asText.status).toBe(415);
    // A new version's titles reach the list at once (the titles are kept per version).
    const renamed = csv.replace('B1,Title of B1', 'B1,A new title');
    expect((await librarian.request('POST', '/v1/catalogue/school-1/import', { csv: renamed })).status).toBe(
      200,
    );
    const titles = (await librarian.request('GET', '/v1/library/school-1/overdue')).body.loans as {
      itemId: string;
      title: string;
    }[];
    expect(titles.find((loan) => loan.itemId === 'B1')?.title).toBe('A new title');
    expect(
      (
        await asAdmin(base, 'POST', '/v1/accounts', {
          username: 'nowhere',
          displayName: 'nowhere',
          password: 'correct horse battery',
          role: 'librarian',
        })
      ).status,
    ).toBe(400);
  });
});

describe("a form teacher's list", () => {
  it("gives a head teacher their own class's overdue books and nothing else of the library", async () => {
    const head = new Browser(base);
    await head.login('head');
    const mine = await head.request('GET', '/v1/library/school-1/overdue?class=3B');
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ school: 'school-1', class: '3B' });
    expect(
      (mine.body.loans as { name: string; itemId: string }[]).map((l) => `${l.name} ${l.itemId}`),
    ).toEqual(['李芳 B2', '李芳 B5', 'Zhang Min B3']);
    const csv = await fetch(`${base}/v1/library/school-1/overdue.csv?class=3B`, {
      headers: { cookie: head.cookie as string },
    });
    // A HEAD is a read as its GET is (a browser or a proxy asking before it downloads).
    const asked = await fetch(`${base}/v1/library/school-1/overdue.csv?class=3B`, {
      method: 'HEAD',
      headers: { cookie: head.cookie as string },
    });
    expect(asked.status).toBe(200);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-disposition')).toMatch(
      /filename="overdue-school-1-3B-\d{4}-\d{2}-\d{2}\.csv"/,
    );
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(['3B', '3B', '3B']);

    // The same list at a terminal: due dates as the school's calendar has them.
    const printed = await bridgeCli([
      ...['library', 'overdue', '--school', 'school-1', '--class', '3B'],
      ...['--url', base, '--admin-token', ADMIN_TOKEN],
    ]);
    expect(printed.code, printed.stderr).toBe(0);
    const { timeZone, loans } = mine.body as { timeZone: string; loans: { name: string; dueAt: string }[] };
    expect(printed.stdout).toContain('3 loan(s) overdue at school-1 (class 3B):');
    expect(printed.stdout).not.toMatch(/\d\d:\d\d:\d\d/);
    for (const loan of loans)
      expect(printed.stdout).toMatch(
        new RegExp(`${loan.name}.*${localDate(Date.parse(loan.dueAt), timeZone)}`),
      );

    // The whole school's list, another class's, and the library's other reads are not theirs: a
    // class in the query of a route that does not take one changes nothing.
    for (const path of [
      '/v1/library/school-1/overdue',
      '/v1/library/school-1/overdue?class=10A',
      '/v1/library/school-1/overdue.csv',
      '/v1/library/school-2/overdue?class=3B',
      '/v1/library/school-1/loans?class=3B',
      '/v1/library/school-1/conflicts?class=3B',
      '/v1/catalogue/school-1?class=3B',
    ])
      expect(`${path} ${(await head.request('GET', path)).status}`).toBe(`${path} 403`);
    expect((await head.request('PUT', '/v1/catalogue/school-1/rules?class=3B', {})).status).toBe(403);

    await bridge.reads.flush();
    const reads = (await asAdmin(base, 'GET', '/v1/audit?actor=head&action=read.library.overdue&limit=10'))
      .body.entries as { target: string }[];
    expect(reads.map((entry) => entry.target)).toEqual(['class:school-1/3B']);
  });

  it('lists one class for the librarian too, and says so of a class the school does not have', async () => {
    const librarian = new Browser(base);
    await librarian.login('librarian');
    const tenA = await librarian.request('GET', '/v1/library/school-1/overdue?class=10A');
    expect((tenA.body.loans as { name: string }[]).map((loan) => loan.name)).toEqual(['王伟']);
    const none = await librarian.request('GET', '/v1/library/school-1/overdue?class=9Z');
    expect(none).toMatchObject({ status: 404, body: { message: 'no class 9Z in school-1' } });
    expect((await librarian.request('GET', '/v1/library/school-1/overdue.csv?class=9Z')).status).toBe(404);
    // A class the directory has, with no pupil on a card yet: nothing overdue, not unknown.
    bridge.directory.putClass({ school: 'school-1', id: '1A', name: 'Class 1A' });
    const empty = await librarian.request('GET', '/v1/library/school-1/overdue?class=1A');
    expect(empty).toMatchObject({ status: 200, body: { class: '1A', loans: [] } });
    const tooLong = await librarian.request('GET', `/v1/library/school-1/overdue?class=${'X'.repeat(33)}`);
    expect(tooLong.status).toBe(400);
  });

  it('names a borrower who moved to another school with it, in no class of this one', async () => {
    // 王伟 moved to school-2, into a class that has this school's name for one of its own.
    bridge.directory.putPerson({
      id: person(1),
      school: 'school-2',
      role: 'student',
      name: '王伟',
      class: '3B',
      active: true,
    });
    const head = new Browser(base);
    await head.login('head');
    const mine = await head.request('GET', '/v1/library/school-1/overdue?class=3B');
    expect((mine.body.loans as { name: string }[]).map((loan) => loan.name)).not.toContain('王伟');
    const all = await asAdmin(base, 'GET', '/v1/library/school-1/overdue');
    const moved = (all.body.loans as Record<string, unknown>[]).filter((loan) => loan.name === '王伟');
    expect(moved).toEqual([expect.objectContaining({ itemId: 'B1', nowAt: 'school-2', role: 'student' })]);
    expect(moved[0]).not.toHaveProperty('class');
    const csv = await fetch(`${base}/v1/library/school-1/overdue.csv`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const row = (await csv.text()).split('\r\n').find((line) => line.includes('王伟'));
    expect(row).toMatch(/^,王伟,.*,desk-1,school-2,$/);
  });
});
