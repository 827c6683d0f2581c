import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttendanceDay, addDays, type Bridge } from '@educard/cloud-bridge';
import { libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { until } from '@educard/scripts/support';
import { type CardEntry, localDate } from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, Browser, makeAccount } from '../support/accounts.js';
import { ADMIN_TOKEN, startBridge } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';
import { commitTaps } from '../support/gate-passages.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

// A district without a change feed: rosters imported school by school, a pupil moved with the CLI
// (a child process, over the bridge's real HTTP API). Every date comes from the real clock.

const ZONE = 'Asia/Shanghai';
const DAY = 86_400_000;
const SECRET = 'parent-notices-secret-0123456789abcdef';
const today = localDate(Date.now(), ZONE);
const yesterday = addDays(today, -1);
const calendar = { timeZone: ZONE, holidays: [], closures: [], makeUpDays: [] };
const valid = {
  validFrom: new Date(Date.now() - 30 * DAY).toISOString(),
  validUntil: new Date(Date.now() + 300 * DAY).toISOString(),
};
const pupil = (n: number, school: string, className: string): CardEntry =>
  sampleCard(n, { ...valid, class: className, displayName: `Pupil ${n}`, schedules: [] }, school);

let dir: string;
let bridge: Bridge;
let hooks: Record<'s-a' | 's-b', WebhookReceiver>;

const cli = (...args: string[]) =>
  bridgeCli(['people', 'transfer', ...args, '--url', bridge.httpUrl, '--admin-token', ADMIN_TOKEN]);
/** How many pupils each class of a school counts on a date (any day of the week: the class lists). */
const pupilsOf = async (school: string, date: string) => {
  const day = (await asAdmin(bridge.httpUrl, 'GET', `/v1/attendance/${school}/days/${date}`))
    .body as unknown as AttendanceDay;
  return Object.fromEntries(day.classes.map((c) => [c.class, c.counts.pupils]));
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-transfer-'));
  hooks = { 's-a': await WebhookReceiver.start(SECRET), 's-b': await WebhookReceiver.start(SECRET) };
  const webhook = (school: 's-a' | 's-b') => ({
    school,
    url: hooks[school].url,
    secret: SECRET,
    debounceMs: 200,
    batchWindowMs: 50,
  });
  bridge = await startBridge(dir, { notices: { tickMs: 25, webhooks: [webhook('s-a'), webhook('s-b')] } });
  for (const [school, cards] of [
    ['s-a', [pupil(1, 's-a', '3-1'), pupil(2, 's-a', '3-1')]],
    ['s-b', [pupil(9, 's-b', '5-2')]],
  ] as const) {
    const imported = await asAdmin(bridge.httpUrl, 'POST', `/v1/roster/${school}/import`, {
      cards,
      calendar,
    });
    expect(imported.status).toBe(200);
  }
});
afterAll(async () => {
  await bridge.stop();
  for (const hook of Object.values(hooks)) await hook.down();
  await rm(dir, { recursive: true, force: true });
});

// Each CLI run is a Node process of its own: seconds each on a busy machine.
describe('educard-bridge people transfer', { timeout: 120_000 }, () => {
  it('refuses bad usage with exit 2 and what it cannot do with exit 1, changing nothing', async () => {
    const p1 = pupil(1, 's-a', '3-1').personId;
    const bad = await cli(p1, '--to', 's-b', '--on', '20.2.2027');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--on 20\.2\.2027 is not a date/);
    expect((await cli(p1)).code).toBe(2);
    const future = await cli(p1, '--to', 's-b', '--on', addDays(localDate(Date.now(), ZONE), 1));
    expect([future.code, future.stderr]).toEqual([2, expect.stringMatching(/is after today/)]);
    const nobody = await cli('p-nobody', '--to', 's-b');
    expect([nobody.code, nobody.stderr]).toEqual([1, expect.stringMatching(/no person p-nobody/)]);
    const nowhere = await cli(p1, '--to', 's-zzz');
    expect([nowhere.code, nowhere.stderr]).toEqual([1, expect.stringMatching(/no school s-zzz/)]);
    const there = await cli(p1, '--to', 's-a');
    expect([there.code, there.stderr]).toEqual([1, expect.stringMatching(/at school s-a already/)]);
    expect(bridge.store.latestRosterVersion('s-a')?.version).toBe(1);
    expect(bridge.store.latestRosterVersion('s-b')?.version).toBe(1);
  });

  it('moves a pupil known by their card: one version each school, audited, attendance by the date', async () => {
    const card = pupil(1, 's-a', '3-1');
    const run = await cli(card.personId, '--to', 's-b', '--on', yesterday, '--class', '5-2', '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(run.json()).toMatchObject({
      personId: card.personId,
      from: 's-a',
      to: 's-b',
      on: yesterday,
      source: 'api',
      actor: 'admin-token',
      cards: [card.cardId],
      versions: [
        { school: 's-a', version: 2 },
        { school: 's-b', version: 2 },
      ],
    });
    expect(run.json()).not.toHaveProperty('before');
    expect(run.json()).not.toHaveProperty('booksOut');
    expect(bridge.store.findCard(card.cardId)).toMatchObject({
      school: 's-b',
      class: '5-2',
      status: 'active',
    });
    expect(bridge.store.rosterCards('s-a').find((c) => c.cardId === card.cardId)).toMatchObject({
      status: 'cancelled',
      statusReason: 'transferred',
    });
    // Known by its roster only: the directory stays as it was.
    expect(bridge.directory.person(card.personId)).toBeUndefined();
    const audit = await asAdmin(bridge.httpUrl, 'GET', '/v1/audit?action=people.transfer&outcome=ok');
    expect(audit.body.entries).toMatchObject([
      {
        actor: 'admin-token',
        target: `person:${card.personId}`,
        school: 's-b',
        outcome: 'ok',
        detail: { from: 's-a', to: 's-b', on: yesterday, cards: 1 },
      },
    ]);
    // The second pupil has a book out at the old school's library: the move goes ahead, and says so.
    const items = [{ itemId: '9787020002207', title: '红楼梦' }];
    expect((await asAdmin(bridge.httpUrl, 'POST', '/v1/catalogue/s-a/import', { items })).status).toBe(200);
    const dueAt = new Date(Date.now() + 7 * DAY).toISOString();
    const loan = {
      loanId: 'desk-a:1',
      itemId: '9787020002207',
      personId: pupil(2, 's-a', '3-1').personId,
      dueAt,
    };
    bridge.store.commitRecords(
      'desk-a',
      's-a',
      libraryRecords('desk-a', [['library.checkout', new Date(Date.now() - DAY).toISOString(), loan]]),
    );
    const human = await cli(pupil(2, 's-a', '3-1').personId, '--to', 's-b');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(
      /moved from s-a to s-b on \d{4}-\d\d-\d\d, with 1 card\(s\): s-a version 3 and s-b version 3/,
    );
    expect(human.stdout, human.stdout).toContain(
      `1 book(s) still out at the s-a library (on its overdue list once late):\n  9787020002207  红楼梦  due ${localDate(Date.parse(dueAt), ZONE)}`,
    );
    const moved = await asAdmin(bridge.httpUrl, 'GET', '/v1/audit?action=people.transfer&outcome=ok&limit=1');
    expect(moved.body.entries).toMatchObject([{ detail: { booksOut: 1 } }]);

    // Attendance: at the old school until the transfer date, at the new one from it.
    const before = addDays(yesterday, -1);
    expect(await pupilsOf('s-a', before)).toEqual({ '3-1': 2 });
    expect(await pupilsOf('s-b', before)).toEqual({ '5-2': 1 });
    expect(await pupilsOf('s-a', yesterday)).toEqual({ '3-1': 1 });
    expect(await pupilsOf('s-b', yesterday)).toEqual({ '5-2': 2 });
    expect(await pupilsOf('s-a', today)).toEqual({});
    // The second pupil moved today without a class: the new school counts them once it gives one.
    expect(await pupilsOf('s-b', today)).toEqual({ '5-2': 2 });
    expect(bridge.store.findCard(pupil(2, 's-a', '3-1').cardId)).not.toHaveProperty('class');

    // A transfer dated before the pupil's last one is refused.
    const back = await cli(card.personId, '--to', 's-a', '--on', before);
    expect([back.code, back.stderr]).toEqual([
      2,
      expect.stringMatching(/before the person's previous transfer/),
    ]);
  });

  it('is the district’s to make: a school admin is refused, and the refusal audited', async () => {
    await makeAccount(bridge.httpUrl, { username: 'admin-a', role: 'school-admin', school: 's-a' });
    const admin = new Browser(bridge.httpUrl);
    await admin.login('admin-a');
    const refused = await admin.request('POST', `/v1/people/${sampleCard(9).personId}/transfer`, {
      to: 's-a',
    });
    expect(refused.status).toBe(403);
    const audit = await asAdmin(bridge.httpUrl, 'GET', '/v1/audit?action=people.transfer&outcome=denied');
    expect(audit.body.entries).toMatchObject([{ actor: 'admin-a', outcome: 'denied' }]);
    const malformed = await asAdmin(bridge.httpUrl, 'POST', `/v1/people/${sampleCard(9).personId}/transfer`, {
      to: 's-a',
      on: 'soon',
      extra: true,
    });
    expect(malformed.status).toBe(400);
  });

  it('sends each passage’s notice to the school the pupil belonged to when it happened', async () => {
    bridge.directory.putPerson({
      id: 'p-notice',
      school: 's-a',
      role: 'student',
      name: 'Pupil N',
      class: '3-1',
      studentNumber: 'G110101201501019999',
      active: true,
    });
    const beforeMove = new Date(Date.now() - 60_000).toISOString();
    const moved = await asAdmin(bridge.httpUrl, 'POST', '/v1/people/p-notice/transfer', {
      to: 's-b',
      class: '5-2',
    });
    expect(moved.status).toBe(200);
    // An old-school gate that had not heard of the move sends what it let through: a passage of before
    // the move, late, and one after it.
    commitTaps(bridge, 'gate-a', 's-a', [
      { personId: 'p-notice', at: beforeMove, direction: 'in' },
      { personId: 'p-notice', at: new Date(Date.now() + 1000).toISOString(), direction: 'out' },
    ]);
    const noticeAt = async (school: 's-a' | 's-b') =>
      until(() => hooks[school].notices.find((n) => n.personId === 'p-notice'), {
        what: `the notice at ${school}`,
      });
    expect(await noticeAt('s-a')).toMatchObject({
      school: 's-a',
      class: '3-1',
      direction: 'in',
      device: 'gate-a',
    });
    expect(await noticeAt('s-b')).toMatchObject({
      school: 's-b',
      class: '5-2',
      direction: 'out',
      device: 'gate-a',
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hooks['s-a'].notices.filter((n) => n.personId === 'p-notice')).toHaveLength(1);
    expect(hooks['s-b'].notices.filter((n) => n.personId === 'p-notice')).toHaveLength(1);
  });
});
