import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { launchChromium } from '@educard/scripts/support';
import { calendarWithSchoolToday, sampleCard, validAround } from '@educard/terminal-sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startBridge } from '../support/bridge.js';
import { commitTaps } from '../support/gate-passages.js';
import { screenshot, signInToBridge } from '../support/pages.js';

/**
 * Who read a pupil's data, found on the audit page: a head teacher opens their class's attendance, a
 * school admin reads one pupil's events; the admin's audit log, filtered by reader and by pupil, shows
 * each read. A real bridge and Chromium on the real clock.
 */

const SCHOOL = 'school-a';
const TIME_ZONE = 'Asia/Shanghai';
const PASSWORD = 'correct horse battery staple';
const pupil = (n: number, className: string) =>
  sampleCard(n, { class: className, grade: '7', schedules: [], ...validAround(Date.now()) }, SCHOOL);
const cards = [pupil(1, '7-1'), pupil(2, '7-1'), pupil(3, '7-2')];
const watched = cards[1]?.personId as string;

let dir: string;
let bridge: Bridge;
let browser: Browser;

const signIn = (username: string): Promise<Page> =>
  signInToBridge(browser, bridge.httpUrl, username, { password: PASSWORD, timezoneId: TIME_ZONE });

/** The actions of the audit table's rows as the page shows them. */
const shownActions = (page: Page) =>
  page
    .locator('table.audit tbody tr')
    .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-action')));
const shownReaders = (page: Page) => page.locator('table.audit tbody tr td:nth-child(2)').allTextContents();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-audit-'));
  bridge = await startBridge(dir);
  expect(
    await admin(bridge.httpUrl, `/v1/roster/${SCHOOL}/import`, {
      cards,
      calendar: calendarWithSchoolToday(TIME_ZONE),
    }),
  ).toMatchObject({ ok: true });
  for (const account of [
    { username: 'sam', role: 'school-admin', school: SCHOOL },
    { username: 'hana', role: 'head-teacher', school: SCHOOL, className: '7-1' },
  ])
    await admin(bridge.httpUrl, '/v1/accounts', {
      ...account,
      displayName: account.username,
      password: PASSWORD,
    });
  commitTaps(bridge, 'gate-a', SCHOOL, [
    { personId: watched, at: new Date().toISOString(), direction: 'in' },
  ]);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Hana signs in: the attendance page opens on her class, and that read is entered (batched) as it is answered. */
async function teacherReadsTheirClass(): Promise<void> {
  const teacher = await signIn('hana');
  await expect
    .poll(() => bridge.audit.query({ actor: 'hana', action: 'read.attendance.day', limit: 10 }).length)
    .toBeGreaterThan(0);
  await teacher.context().close();
}

describe('the audit page', () => {
  it('finds a head teacher’s read of their class by reader, and a read of one pupil’s events by pupil', async () => {
    await teacherReadsTheirClass();

    const page = await signIn('sam');
    const events = await page.evaluate(
      async (path) => (await fetch(path)).status,
      `/v1/events?school=${SCHOOL}&person=${watched}`,
    );
    expect(events).toBe(200);
    await page.locator('.bar .tab', { hasText: 'Accounts' }).click();
    const reader = page.locator('input[name="audit-actor"]');
    await reader.fill('hana');
    // The unfiltered list, shown until the answer comes, holds Hana's read too: wait for the filter.
    await expect.poll(async () => new Set(await shownReaders(page))).toEqual(new Set(['hana']));
    expect(await shownActions(page)).toContain('read.attendance.day');
    await reader.fill('');
    const pupilFilter = page.locator('input[name="audit-pupil"]');
    await pupilFilter.fill(watched);
    await expect.poll(() => shownActions(page)).toEqual(['read.events']);
    expect(await shownReaders(page)).toEqual(['sam']);
    await screenshot(page, 'bridge-audit-by-pupil');
    await page.context().close();
  });

  it('never shows the answer to an earlier filter that arrives after the filter was changed', async () => {
    await teacherReadsTheirClass();
    const page = await signIn('sam');
    const audit = (filtered: boolean) => (url: URL) =>
      url.pathname === '/v1/audit' && url.searchParams.has('actor') === filtered;
    const filteredAnswer = page.waitForResponse((response) => audit(true)(new URL(response.url())));
    // The unfiltered list, asked for as the tab opens, is answered by the bridge at once but reaches
    // the page only once the filter's answer is shown.
    let shown = (): void => undefined;
    const filteredShown = new Promise<void>((resolve) => {
      shown = resolve;
    });
    await page.route(audit(false), async (route) => {
      const response = await route.fetch();
      await filteredShown;
      await route.fulfill({ response });
    });
    const lateAnswer = page.waitForResponse((response) => audit(false)(new URL(response.url())));
    await page.locator('.bar .tab', { hasText: 'Accounts' }).click();
    const reader = page.locator('input[name="audit-actor"]');
    await reader.fill('hana');
    expect((await filteredAnswer).status()).toBe(200);
    await expect.poll(async () => new Set(await shownReaders(page))).toEqual(new Set(['hana']));
    shown();
    await lateAnswer;
    // Give the page a moment to render what came late (wrongly), then look.
    await page.evaluate(
      () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 200))),
    );
    expect(new Set(await shownReaders(page))).toEqual(new Set(['hana']));
    await page.context().close();
  });
});
