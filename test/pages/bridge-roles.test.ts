import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDays, type Bridge, zonedInstant } from '@educard/cloud-bridge';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { launchChromium, until } from '@educard/scripts/support';
import type { CardEntry, KeyRole } from '@educard/terminal-sdk';
import { calendarWithSchoolToday, sampleCard, validAround } from '@educard/terminal-sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, enrollDevice, startBridge } from '../support/bridge.js';
import { commitTaps } from '../support/gate-passages.js';
import { screenshot, signInToBridge } from '../support/pages.js';
import { schoolToday } from '../support/school-day.js';

/**
 * The bridge's pages, one role at a time, against a real bridge with two real gateways: what each role
 * sees, what it may not reach even by typing the API's address, and a card reported lost watched until
 * both gates have taken it.
 */

const SCHOOL = 'school-1';
const TIME_ZONE = 'Asia/Shanghai';
const PASSWORD = 'correct horse battery staple';
// The bridge and the gates run on the real clock: so do the cards' dates.
const pupil = (n: number, className: string) =>
  sampleCard(n, {
    class: className,
    grade: '7',
    schedules: [],
    zones: ['main-gate'],
    ...validAround(Date.now()),
  });
// Pupil 3's card is suspended: the gate refuses them.
const class71 = [pupil(1, '7-1'), pupil(2, '7-1'), { ...pupil(3, '7-1'), status: 'suspended' as const }];
const class72 = [pupil(4, '7-2'), pupil(5, '7-2')];

let dir: string;
let bridge: Bridge;
let browser: Browser;
const gateways: Gateway[] = [];

async function startGate(id: string, anchor: KeyRole): Promise<Gateway> {
  const dataDir = join(dir, id);
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const mqtt = await enrollDevice(bridge.httpUrl, dataDir, id, SCHOOL);
  const gateway = await Gateway.start({
    config: parseConfig({
      device: { id, school: SCHOOL },
      dataDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: {
        simulated: ['sim-in', 'sim-out'],
        bindings: [
          { pattern: 'sim-in', direction: 'in' },
          { pattern: 'sim-out', direction: 'out' },
        ],
      },
      uplink: { url: mqtt.url, bridgeHttp: bridge.httpUrl, username: mqtt.username, password: mqtt.password },
    }),
    logger: createLogger(id, { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
  });
  gateways.push(gateway);
  return gateway;
}

const signIn = (username: string): Promise<Page> =>
  signInToBridge(browser, bridge.httpUrl, username, { password: PASSWORD, timezoneId: TIME_ZONE });

/** What the page's own session gets from the API: the status and the body. */
const fetchAs = (page: Page, path: string, init: { method?: string; body?: unknown } = {}) =>
  page.evaluate(
    async ({ path, init }) => {
      const response = await fetch(path, {
        method: init.method ?? 'GET',
        headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      });
      return { status: response.status, body: await response.text() };
    },
    { path, init },
  );

const today = schoolToday(TIME_ZONE);
/** The four school days before today, latest first: the gates were live on the three latest. */
const schoolDaysBefore: string[] = [];
for (let date = addDays(today.date, -1); schoolDaysBefore.length < 4; date = addDays(date, -1))
  if (![0, 6].includes(new Date(`${date}T12:00:00Z`).getUTCDay())) schoolDaysBefore.push(date);
const uid = (card: CardEntry | undefined) => card?.credential.uid as string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-pages-'));
  bridge = await startBridge(join(dir, 'bridge'));
  expect(
    await admin(bridge.httpUrl, `/v1/roster/${SCHOOL}/import`, {
      cards: [...class71, ...class72],
      calendar: calendarWithSchoolToday(TIME_ZONE),
    }),
  ).toMatchObject({ ok: true, version: 1 });
  const accounts = [
    { username: 'dora', role: 'district-admin' },
    { username: 'sam', role: 'school-admin', school: SCHOOL },
    { username: 'hana', role: 'head-teacher', school: SCHOOL, className: '7-1' },
    { username: 'otto', role: 'operator', school: SCHOOL },
  ];
  for (const account of accounts) {
    expect(
      await admin(bridge.httpUrl, '/v1/accounts', {
        ...account,
        displayName: account.username,
        password: PASSWORD,
      }),
    ).toMatchObject({ account: { username: account.username } });
  }
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  const gate1 = await startGate('gate-01', anchor);
  const gate2 = await startGate('gate-02', anchor);
  await until(() => gate1.roster.view?.version === 1 && gate2.roster.view?.version === 1);
  // Pupil 1 comes in at gate 1, pupil 4 (the other class) at gate 2; pupil 3 is refused at gate 1,
  // pupil 2 is not here yet.
  const readers1 = gate1.readers as SimulatedReaderDriver;
  readers1.present('sim-in', { uid: uid(class71[0]) });
  readers1.remove('sim-in');
  readers1.present('sim-in', { uid: uid(class71[2]) });
  (gate2.readers as SimulatedReaderDriver).present('sim-in', { uid: uid(class72[0]) });
  await until(
    () => bridge.store.queryEvents({ school: SCHOOL, type: 'gate.decision', limit: 10 }).length === 3,
  ).catch((e) => {
    console.log(
      JSON.stringify(
        bridge.store.queryEvents({ limit: 50 }).map((x) => [x.record.device, x.record.type, x.record.data]),
      ),
    );
    throw e;
  });
  // A teacher passed a gate on each of the three school days before today (the gates were live): the
  // pupils who did not come are absent on them.
  commitTaps(
    bridge,
    'gate-03',
    SCHOOL,
    schoolDaysBefore.slice(0, 3).map((date) => ({
      personId: 't-1',
      role: 'teacher',
      at: new Date(zonedInstant(date, '07:30', TIME_ZONE)).toISOString(),
      direction: 'in',
    })),
  );
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  for (const gateway of gateways) await gateway.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the bridge pages, role by role', () => {
  it('a head teacher reads today’s attendance of their own class, and no other', async () => {
    const page = await signIn('hana');
    expect(await page.locator('.bar .tab').allTextContents()).toEqual(['Attendance', 'Library']);
    const table = page.locator('table.pupils[data-class="7-1"]');
    await table.waitFor();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(3);
    const status = (n: number) =>
      table.locator(`tr[data-person="${class71[n]?.personId}"] td:nth-child(3)`).textContent();
    expect(await status(0)).toMatch(/^(Present|Late)/);
    expect(await status(1)).toMatch(/^(Not arrived|Absent)$/);
    // Refused at the gate: the head teacher knows the pupil was there, and why they are not in.
    expect(await status(2)).toMatch(
      /^(Not arrived|Absent) · Turned away \d\d:\d\d( [AP]M)? \(card suspended\)$/,
    );
    expect(await page.locator('table.pupils[data-class="7-2"]').count()).toBe(0);
    // Pupils 2 and 3 have not come for days (three, or four once today's cut-off has passed, 09:30):
    // listed to be followed up. Pupil 1 came today, which counts from the cut-off; the other class is
    // not the head teacher's.
    const todayCounted = Date.now() >= zonedInstant(today.date, '09:30', TIME_ZONE);
    const away = page.locator('.consecutive-absences tbody tr');
    await away.first().waitFor();
    expect(
      (await away.evaluateAll((rows) => rows.map((row) => row.getAttribute('data-person')))).sort(),
    ).toEqual(
      [...(todayCounted ? [] : [class71[0]?.personId]), class71[1]?.personId, class71[2]?.personId].sort(),
    );
    for (const days of await away.locator('td:nth-child(4)').allTextContents())
      expect(days).toMatch(/^[34]$/);
    await screenshot(page, 'bridge-head-teacher-attendance');
    // The day before those, the gates recorded nobody: the register says its absences are not known.
    expect(await page.locator('.gates-silent').count()).toBe(0);
    await page.locator('input[type="date"]').fill(schoolDaysBefore[3] as string);
    await page.locator('.gates-silent').waitFor();
    await page.locator('input[type="date"]').fill(schoolDaysBefore[0] as string);
    await table.locator('tbody tr').first().waitFor();
    expect(await page.locator('.gates-silent').count()).toBe(0);

    // The other class, the whole school and the operations API are refused, whatever the page shows.
    const other = await fetchAs(page, `/v1/attendance/${SCHOOL}/days/${today.date}?class=7-2`);
    expect(other.status).toBe(403);
    expect((await fetchAs(page, `/v1/attendance/${SCHOOL}/days/${today.date}`)).status).toBe(403);
    expect((await fetchAs(page, `/v1/attendance/${SCHOOL}/days/${today.date}.csv?class=7-2`)).status).toBe(
      403,
    );
    expect((await fetchAs(page, '/v1/ops/devices')).status).toBe(403);
    await page.context().close();
  });

  it('an operator watches the gates, reports a card lost and sees each gate apply it, but cannot change accounts', async () => {
    const page = await signIn('otto');
    // No Updates: rollouts span schools, and this operator is bound to one.
    expect(await page.locator('.bar .tab').allTextContents()).toEqual(['Operations']);
    for (const id of ['gate-01', 'gate-02'])
      await page.locator(`table.devices tr[data-device="${id}"] .chip.online`).waitFor();
    // The calendar imported above names no day off this school year: an alarm, and a row of the dates.
    await page.locator('.alarms li[data-alarm="calendar.empty"]').waitFor();
    const dates = page.locator(`table.expiry tr[data-school="${SCHOOL}"]`);
    expect(await dates.locator('td[data-days-off]').getAttribute('data-days-off')).toBe('0');
    expect(await dates.locator('td[data-roster]').getAttribute('data-roster')).toBe('ok');
    await screenshot(page, 'bridge-operator-dates');
    await page.locator('.stream li[data-type="gate.decision"]').first().waitFor();
    // Pupil 4 leaves by gate 2 while the operator watches: the event arrives on the live stream.
    const shown = await page.locator('.stream li').count();
    const gate2 = gateways[1] as Gateway;
    (gate2.readers as SimulatedReaderDriver).present('sim-out', { uid: uid(class72[0]) });
    await expect.poll(() => page.locator('.stream li').count()).toBe(shown + 1);
    expect(await page.locator('.stream li').first().textContent()).toMatch(
      /gate\.decision gate-02 .*\*{6}\d{4}/,
    );

    const lost = class71[1]?.cardId as string;
    await page.getByLabel('Card number').fill(lost);
    await page.getByRole('button', { name: 'Report lost' }).click();
    await page.locator('.card-view[data-status="lost"]').waitFor();
    for (const id of ['gate-01', 'gate-02'])
      await page.locator(`.gates li[data-gate="${id}"].applied`).waitFor({ timeout: 10_000 });
    for (const gateway of gateways) expect(gateway.roster.view?.byCardId(lost)?.status).toBe('lost');
    await screenshot(page, 'bridge-operator-card-lost');

    const created = await fetchAs(page, '/v1/accounts', {
      method: 'POST',
      body: { username: 'mallory', password: PASSWORD, role: 'district-admin' },
    });
    expect(created.status).toBe(403);
    expect((await fetchAs(page, '/v1/accounts')).status).toBe(403);
    await page.context().close();
  });

  it('a school admin sees every class with a trend chart, manages accounts, and reads the denied attempts in the audit log', async () => {
    const page = await signIn('sam');
    expect(await page.locator('.bar .tab').allTextContents()).toEqual([
      'Attendance',
      'Operations',
      'Library',
      'Accounts',
    ]);
    await page.locator('table.classes tr[data-class="7-1"]').waitFor();
    await page.locator('table.classes tr[data-class="7-2"]').waitFor();
    expect(await page.locator('.tile[data-count="turnedAway"] strong').textContent()).toBe('1');
    await page.locator('.trend canvas').waitFor();
    await screenshot(page, 'bridge-school-admin-attendance');

    await page.locator('.bar .tab', { hasText: 'Accounts' }).click();
    await page.locator('tr[data-account="hana"]').waitFor();
    const form = page.locator('form.create-account');
    await form.locator('input[name="username"]').fill('olga');
    await form.locator('input[name="displayName"]').fill('Olga');
    await form.locator('input[name="password"]').fill(PASSWORD);
    await form.locator('select[name="role"]').selectOption('operator');
    await form.getByRole('button', { name: 'Create' }).click();
    await page.locator('tr[data-account="olga"]').waitFor();
    expect(await form.locator('select[name="role"] option').allTextContents()).not.toContain(
      'District admin',
    );

    // The head teacher's and the operator's refused requests are in the log, with who asked.
    await expect
      .poll(async () => page.locator('table.audit tr.outcome-denied').allTextContents(), { timeout: 15_000 })
      .toEqual(
        expect.arrayContaining([
          expect.stringMatching(/hana.*attendance\.read/),
          expect.stringMatching(/otto.*accounts\.manage/),
        ]),
      );
    await screenshot(page, 'bridge-school-admin-accounts');
    await page.context().close();
  });

  it('a district admin picks any school; a wrong password is refused with a message', async () => {
    const context = await browser.newContext({ locale: 'en-US', timezoneId: TIME_ZONE });
    const page = await context.newPage();
    const served = await page.goto(`${bridge.httpUrl}/?lang=en`);
    expect(served?.headers()['content-security-policy']).toContain("default-src 'self'");
    await page.getByLabel('Username').fill('dora');
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').textContent()).toBe('Wrong username or password');
    await context.close();

    const signedIn = await signIn('dora');
    // The school list is filled from the API after the page shows: waited for, not read at once.
    await expect
      .poll(() => signedIn.locator('select[name="school"] option').allTextContents())
      .toContain(SCHOOL);
    await signedIn.locator('table.classes tr[data-class="7-2"]').waitFor();
    await signedIn.context().close();
  });
});
