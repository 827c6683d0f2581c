import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bridge, zonedInstant } from '@educard/cloud-bridge';
import { launchChromium, until } from '@educard/scripts/support';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, makeAccount, PASSWORD } from '../support/accounts.js';
import { enrollStoreGate, startBridge } from '../support/bridge.js';
import { commitTaps } from '../support/gate-passages.js';
import { scrape } from '../support/metrics.js';
import { screenshot, seriousViolations, signInToBridge } from '../support/pages.js';
import { lastWeeksMonday, schoolWithPupils } from '../support/school-day.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Parent notices on the operations page, in a real Chromium against a real bridge and a real receiver,
 * the bridge on a set clock (Monday of last week, after the 09:00 cut-off): a delivery the receiver
 * refused is sent again from the page, and the absence notices held for an offline gate go once it is
 * back; the register shows the hold, then beside the absent pupil when the parents were told, and
 * beside a pupil turned away whether they were told of it. An operator's page neither shows nor asks
 * for them. The clock stands still unless the test moves it: notices go out at once (no batch window),
 * as they would once a window had passed.
 */

const SCHOOL = 'school-1';
const ZONE = 'Asia/Shanghai';
const SECRET = 'page-notices-secret-0123456789abcdef';
const METRICS_TOKEN = 'page-notices-metrics-0123456789';
const held = async () =>
  (await scrape(`${bridge.httpUrl}/metrics`, METRICS_TOKEN)).value('educard_bridge_notices_absence_held', {
    school: SCHOOL,
  });
const MONDAY = lastWeeksMonday(ZONE);
const at = (clock: string) => zonedInstant(MONDAY, clock, ZONE);

let dir: string;
let bridge: Bridge;
let browser: Browser;
let receiver: WebhookReceiver;
let clock = at('09:10');
let bdSeq = 0;

function gatePresence(online: boolean, atMs: number): void {
  bdSeq++;
  bridge.store.recordPresence('gate-1', { online, bdSeq, at: new Date(atMs).toISOString() });
}

const operations = async (username: string): Promise<Page> => {
  const page = await signInToBridge(browser, bridge.httpUrl, username, {
    password: PASSWORD,
    timezoneId: ZONE,
    timeoutMs: 10_000,
  });
  await page.locator('.bar .tab', { hasText: 'Operations' }).click();
  await page.locator('table.devices').waitFor();
  return page;
};

/** The school's register of that Monday, every class, in a new tab of the signed-in page. */
const schoolRegister = async (signedIn: Page): Promise<Page> => {
  const page = await signedIn.context().newPage();
  await page.goto(bridge.httpUrl);
  await page.locator('input[type="date"]').fill(MONDAY);
  await page.locator('table.classes tr[data-class="3-1"]').waitFor();
  return page;
};

/** The school's register of that Monday, class 3-1, in a new tab of the signed-in page. */
const register = async (signedIn: Page): Promise<Page> => {
  const page = await schoolRegister(signedIn);
  await page.locator('select[name="class"]').selectOption('3-1');
  await page.locator('table.pupils[data-class="3-1"]').waitFor();
  return page;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-notices-'));
  receiver = await WebhookReceiver.start(SECRET, () => clock);
  bridge = await startBridge(
    dir,
    {
      metrics: { token: METRICS_TOKEN },
      notices: {
        tickMs: 25,
        webhooks: [
          {
            school: SCHOOL,
            url: receiver.url,
            secret: SECRET,
            absence: true,
            refusals: true,
            debounceMs: 0,
            batchWindowMs: 0,
          },
        ],
      },
    },
    { now: () => new Date(clock) },
  );
  schoolWithPupils(bridge.directory, SCHOOL, ['p1', 'p2']);
  enrollStoreGate(bridge, 'gate-1', SCHOOL, at('06:00'));
  // The gate went offline at 08:30: what it let in since may not be here yet.
  gatePresence(false, at('08:30'));
  await makeAccount(bridge.httpUrl, { username: 'sam', role: 'school-admin', school: SCHOOL });
  await makeAccount(bridge.httpUrl, { username: 'otto', role: 'operator', school: SCHOOL });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await bridge?.stop();
  await receiver?.down();
  await rm(dir, { recursive: true, force: true });
});

describe('parent notices on the operations page and the register', { timeout: 60_000 }, () => {
  it('shows a delivery given up and sends it again; shows absence notices held for a gate until it is back', async () => {
    receiver.failNext('reject');
    commitTaps(bridge, 'gate-1', SCHOOL, [
      { personId: 'p1', at: new Date(at('07:50')).toISOString(), direction: 'in' },
    ]);
    await until(() => bridge.notices.status()[0]?.failed === 1, { what: 'the refused delivery given up' });

    const page = await operations('sam');
    const card = page.locator('section.notices');
    const hook = card.locator('[data-webhook]');
    await hook.locator('[data-failed]', { hasText: '1' }).waitFor();
    expect(await hook.locator('[data-sends]').textContent()).toBe(
      'entries and exits, refused at the gate, absences',
    );
    expect(await card.locator('tr[data-delivery] td').nth(3).textContent()).toBe('HTTP 400');
    await card.locator('.held[data-held="school-1"]', { hasText: 'gate-1' }).waitFor();
    expect(receiver.absences).toEqual([]);
    // Prometheus sees the hold too (EducardAbsenceNoticesHeld after 15 minutes).
    expect(await held()).toBe(1);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'bridge-operations-notices');
    // The register says so too: p2 is absent, and the office knows the parents have not been told yet.
    const before = await register(page);
    await before.locator('.parent-notices-held', { hasText: 'gate-1' }).waitFor();
    expect(await before.locator('tr[data-person="p2"] .parent-notice').count()).toBe(0);
    await before.close();

    await card.getByRole('button', { name: 'Send again' }).click();
    await hook.locator('[data-failed]', { hasText: '0' }).waitFor();
    expect(await card.locator('tr[data-delivery]').count()).toBe(0);
    expect(receiver.notices.map((n) => `${n.personId} ${n.direction}`)).toEqual(['p1 in']);

    // The gate is back (and has nothing more to send): past the minute it is given, p2's absence goes.
    gatePresence(true, clock);
    clock += 2 * 60_000;
    await until(() => receiver.absences.length === 1, { what: 'the absence notice' });
    expect(receiver.absences[0]).toMatchObject({ kind: 'absent', personId: 'p2', date: MONDAY });
    await card.locator('.held').waitFor({ state: 'detached' });
    expect(await held()).toBeUndefined();
    const after = await register(page);
    await after
      .locator('tr[data-person="p2"] [data-parent-notice="delivered"]', { hasText: 'Told 09:12' })
      .waitFor();
    expect(await after.locator('tr[data-person="p1"] [data-parent-notice]').count()).toBe(0);
    expect(await after.locator('.parent-notices-held').count()).toBe(0);
    expect(await seriousViolations(after)).toEqual([]);
    await screenshot(after, 'bridge-attendance-parents-told');
    await page.context().close();
  });

  it('shows on the register that the parents of a pupil turned away were told, not for a lockdown', async () => {
    // p2, told absent at 09:12, came at 09:20 with an expired card; p1 went out at 09:25 and was refused
    // at 09:28 by a lockdown, which is never told one by one. The bridge reads them at 09:30.
    clock = at('09:30');
    commitTaps(bridge, 'gate-1', SCHOOL, [
      {
        personId: 'p2',
        at: new Date(at('09:20')).toISOString(),
        direction: 'in',
        decision: 'deny',
        reason: 'expired',
      },
      { personId: 'p1', at: new Date(at('09:25')).toISOString(), direction: 'out' },
      {
        personId: 'p1',
        at: new Date(at('09:28')).toISOString(),
        direction: 'in',
        decision: 'deny',
        reason: 'lockdown',
      },
    ]);
    await until(() => receiver.refusals.length === 1 && receiver.notices.length === 2, {
      what: 'the refusal notice and the exit',
    });
    expect(receiver.refusals[0]).toMatchObject({ kind: 'refused', personId: 'p2', reason: 'expired' });
    await until(() => bridge.notices.status()[0]?.pending === 0, { what: 'nothing pending' });
    const signedIn = await operations('sam');
    // The school's view lists both, class by class, for the office to follow up.
    const school = await schoolRegister(signedIn);
    const followUp = school.locator('section.follow-up');
    await followUp.locator('h2', { hasText: 'Absent or turned away (2)' }).waitFor();
    expect(await followUp.locator('tr[data-person="p2"] td').allTextContents()).toEqual([
      '学生p2',
      '3-1',
      'G-p2',
      expect.stringMatching(/^Absent · Turned away 09:20 (AM )?\(card expired\)$/),
      expect.stringMatching(/^Absent: Told 09:12 (AM)? · Turned away: Told 09:30/),
    ]);
    expect(await followUp.locator('tr[data-person="p1"] td').nth(3).textContent()).toMatch(
      /^Present · Left early · Turned away 09:28 (AM )?\(lockdown\)$/,
    );
    expect(await seriousViolations(school)).toEqual([]);
    await screenshot(school, 'bridge-attendance-follow-up');
    await school.close();
    const page = await register(signedIn);
    const p2 = page.locator('tr[data-person="p2"]');
    await p2
      .locator('[data-of="refusal"][data-parent-notice="delivered"]', { hasText: 'Turned away: Told 09:30' })
      .waitFor();
    expect(await p2.locator('[data-of="absence"]').textContent()).toMatch(/^Absent: Told 09:12/);
    const p1 = page.locator('tr[data-person="p1"]');
    expect(await p1.locator('.turned-away').textContent()).toContain('09:28');
    expect(await p1.locator('[data-parent-notice]').count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'bridge-attendance-refusal-told');
    await signedIn.context().close();
  });

  it('is not on an operator’s page, which does not ask for it either', async () => {
    const page = await operations('otto');
    await page.locator('section.lockdown').waitFor();
    expect(await page.locator('section.notices').count()).toBe(0);
    const denied = await asAdmin(bridge.httpUrl, 'GET', '/v1/audit?outcome=denied');
    expect(JSON.stringify(denied.body)).not.toContain('notices.manage');
    await page.context().close();
  });
});
