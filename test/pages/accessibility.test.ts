import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bridge } from '@educard/cloud-bridge';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
  terminalCredential,
} from '@educard/gateway';
import { launchChromium, until } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { calendarWithSchoolToday, sampleCard } from '@educard/terminal-sdk/testing';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, enrollDevice, startBridge } from '../support/bridge.js';
import { screenshot, seriousViolations } from '../support/pages.js';
import { validAroundNow } from '../support/school-day.js';

/**
 * Every page, in English and in Chinese (a browser set to zh-CN, as a Chinese school's is), checked by
 * axe-core for WCAG 2.1 A and AA: no serious or critical violation (contrast, labels, names, language).
 * A screenshot of each is kept in test-artifacts/screenshots, Chinese drawn with Noto CJK. The library
 * desk is used by keyboard alone: a librarian never needs the mouse.
 */

const SCHOOL = 'school-1';
const TIME_ZONE = 'Asia/Shanghai';
const PASSWORD = 'correct horse battery staple';
const valid = validAroundNow();
const pupil = sampleCard(1, { ...valid, schedules: [], zones: ['library', 'lab'], class: '7-1' });
const ITEMS = ['B1', 'B2'].map((itemId, i) => ({ itemId, title: `Book ${i + 1}` }));
const RULE = { loanLimit: 3, loanDays: 14, renewals: 1 };
const LANGUAGES = [
  { lang: 'en', locale: 'en-US' },
  { lang: 'zh', locale: 'zh-CN' },
] as const;
const run = promisify(execFile);

let dir: string;
let bridge: Bridge;
let browser: Browser;
const gateways: Gateway[] = [];
const terminals: Record<string, { password: string }> = {};
const logger = createLogger('a11y', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' });

async function startStation(
  id: string,
  station: Record<string, unknown>,
  terminal: string,
): Promise<Gateway> {
  const dataDir = join(dir, id);
  const enrolled = await enrollDevice(bridge.httpUrl, dataDir, id);
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const credential = terminalCredential(terminal, [station.id as string]);
  terminals[terminal] = credential;
  const gateway = await Gateway.start({
    config: parseConfig({
      device: { id, school: SCHOOL },
      dataDir,
      station,
      readers: { simulated: [`${id}-reader`], bindings: [{ pattern: `${id}-reader`, direction: 'in' }] },
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, terminals: [credential.entry] },
      pages: { host: '127.0.0.1', port: 0 },
      uplink: {
        url: enrolled.url,
        username: enrolled.username,
        password: enrolled.password,
        bridgeHttp: bridge.httpUrl,
      },
    }),
    logger,
  });
  gateways.push(gateway);
  return gateway;
}

/** Checks a page in one language and keeps its screenshot. */
async function check(page: Page, name: string, lang: string): Promise<void> {
  expect(await page.evaluate(() => document.documentElement.lang)).toBe(lang === 'zh' ? 'zh-CN' : 'en');
  await screenshot(page, `${name}-${lang}`);
  expect(await seriousViolations(page), `${name} in ${lang}`).toEqual([]);
}

const contextFor = (locale: string): Promise<BrowserContext> =>
  browser.newContext({ locale, timezoneId: TIME_ZONE, viewport: { width: 1280, height: 800 } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'a11y-'));
  bridge = await startBridge(join(dir, 'bridge'));
  await admin(bridge.httpUrl, `/v1/roster/${SCHOOL}/import`, {
    cards: [pupil],
    calendar: calendarWithSchoolToday(TIME_ZONE),
  });
  await admin(bridge.httpUrl, `/v1/catalogue/${SCHOOL}/import`, {
    items: ITEMS,
    rules: { student: RULE, teacher: RULE, staff: RULE },
  });
  await admin(bridge.httpUrl, '/v1/accounts', {
    username: 'sam',
    displayName: 'Sam',
    role: 'school-admin',
    school: SCHOOL,
    password: PASSWORD,
  });
  const desk = await startStation(
    'gw-library',
    { type: 'library', id: 'library-1', zone: 'library', debounceMs: 0 },
    'desk-1',
  );
  const lab = await startStation(
    'gw-lab',
    {
      type: 'lab',
      id: 'lab-1',
      zone: 'lab',
      debounceMs: 0,
      seats: [{ id: 'A1' }, { id: 'A2' }],
      closing: '23:59',
    },
    'kiosk-1',
  );
  await until(() => desk.roster.view?.version === 1 && lab.roster.view?.version === 1, {
    what: 'both stations holding the roster',
  });
  await until(() => (desk.localState().catalogueVersion ?? 0) > 0, {
    what: 'the desk holding the catalogue',
  });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const gateway of gateways) await gateway.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

const terminalUrl = (gateway: Gateway, page: string, terminal: string, station: string) =>
  `${gateway.terminalPorts.pages}/${page}.html#terminal=${terminal}&password=${terminals[terminal]?.password}&station=${station}`;

describe('the pages, for everyone who uses them', () => {
  it('draws Chinese with a CJK font (not boxes)', async () => {
    const { stdout } = await run('fc-match', ['sans-serif:lang=zh-cn']);
    expect(stdout, 'as root: apt-get install -y fonts-noto-cjk (npm test does)').toMatch(/Noto Sans CJK/);
  });

  for (const { lang, locale } of LANGUAGES) {
    it(`the bridge's pages pass axe in ${locale}: sign-in, attendance, operations, library, accounts`, {
      timeout: 90_000,
    }, async () => {
      const context = await contextFor(locale);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(bridge.httpUrl);
      await page.locator('form.login').waitFor();
      await check(page, 'bridge-sign-in', lang);

      await page.locator('input[name="username"]').fill('sam');
      await page.locator('input[name="password"]').fill(PASSWORD);
      await page.locator('form.login button[type="submit"]').click();
      await page.locator('table.classes').waitFor();
      await page.locator('.trend canvas').waitFor();
      await check(page, 'bridge-attendance', lang);

      await page.goto(`${bridge.httpUrl}/#/operations`);
      await page.locator('table.devices tr[data-device="gw-library"]').waitFor();
      await check(page, 'bridge-operations', lang);

      await page.goto(`${bridge.httpUrl}/#/library`);
      await page.locator('section.library section.card.overdue').waitFor();
      await page.locator('section.library section.card.catalogue').waitFor();
      await check(page, 'bridge-library', lang);

      await page.goto(`${bridge.httpUrl}/#/accounts`);
      await page.locator('tr[data-account="sam"]').waitFor();
      await check(page, 'bridge-accounts', lang);
      await context.close();
    });

    it(`the library desk and the computer-room kiosk pass axe in ${locale}, idle and with a patron`, {
      timeout: 90_000,
    }, async () => {
      const [desk, lab] = gateways as [Gateway, Gateway];
      const context = await contextFor(locale);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      await page.goto(terminalUrl(desk, 'desk', 'desk-1', 'library-1'));
      await page.getByTestId('uplink').waitFor();
      await check(page, 'desk-idle', lang);
      (desk.readers as SimulatedReaderDriver).present('gw-library-reader', {
        uid: pupil.credential.uid as string,
      });
      await expect
        .poll(() => page.getByTestId('patron-name').textContent(), { timeout: 15_000 })
        .toBe(pupil.displayName);
      await check(page, 'desk-patron', lang);

      await page.goto(terminalUrl(lab, 'kiosk', 'kiosk-1', 'lab-1'));
      await expect.poll(() => page.locator('[data-state="free"]').count(), { timeout: 15_000 }).toBe(2);
      await check(page, 'kiosk-idle', lang);
      (lab.readers as SimulatedReaderDriver).present('gw-lab-reader', {
        uid: pupil.credential.uid as string,
      });
      await expect
        .poll(() => page.locator('[data-seat="A1"]').getAttribute('data-state'), { timeout: 15_000 })
        .toBe('taken');
      await check(page, 'kiosk-signed-in', lang);
      // Sign out again, for the next language's run.
      (lab.readers as SimulatedReaderDriver).present('gw-lab-reader', {
        uid: pupil.credential.uid as string,
      });
      await expect.poll(() => page.locator('[data-state="free"]').count(), { timeout: 15_000 }).toBe(2);
      await context.close();
    });
  }

  it('the library desk works by keyboard alone: scan, modes by function key and by Tab, clear by Escape', {
    timeout: 90_000,
  }, async () => {
    const desk = gateways[0] as Gateway;
    const context = await contextFor('en-US');
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    await page.goto(terminalUrl(desk, 'desk', 'desk-1', 'library-1'));
    await page.getByTestId('uplink').waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? null);
    const mode = () => page.locator('.modes button.on').getAttribute('data-testid');
    const outcome = () => page.getByTestId('outcome').textContent();
    // The scanner field has the focus from the start: a scanner (a keyboard) needs no click.
    expect(await focused()).toBe('scanner');

    (desk.readers as SimulatedReaderDriver).present('gw-library-reader', {
      uid: pupil.credential.uid as string,
    });
    await expect
      .poll(() => page.getByTestId('patron-name').textContent(), { timeout: 15_000 })
      .toBe(pupil.displayName);
    await page.keyboard.type('B1');
    await page.keyboard.press('Enter');
    await expect.poll(outcome, { timeout: 15_000 }).toContain('Checked out: Book 1');

    await page.keyboard.press('F3');
    expect(await mode()).toBe('mode-renew');
    await page.keyboard.type('B1');
    await page.keyboard.press('Enter');
    await expect.poll(outcome, { timeout: 15_000 }).toContain('Renewed: Book 1');

    await page.keyboard.press('F2');
    expect(await mode()).toBe('mode-return');
    await page.keyboard.type('B1');
    await page.keyboard.press('Enter');
    await expect.poll(outcome, { timeout: 15_000 }).toContain('Returned: Book 1');

    // Tab reaches each mode button in order, with a visible focus ring; Space picks one.
    const stops: string[] = [];
    for (let i = 0; i < 8 && !stops.includes('mode-checkout'); i++) {
      await page.keyboard.press('Tab');
      stops.push((await focused()) ?? '');
    }
    expect(stops).toContain('mode-checkout');
    const ring = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement as Element);
      return style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) >= 2;
    });
    expect(ring, 'the focused button shows a focus ring').toBe(true);
    await page.keyboard.press('Space');
    expect(await mode()).toBe('mode-checkout');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('mode-return');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('mode-renew');

    // Typing anywhere lands in the scanner field again.
    await page.keyboard.type('B2');
    expect(await focused()).toBe('scanner');
    await page.keyboard.press('Enter');
    await expect.poll(outcome, { timeout: 15_000 }).toContain('Checked out: Book 2');
    await screenshot(page, 'desk-keyboard-en');

    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('patron-name').count(), { timeout: 15_000 }).toBe(0);
    expect(await page.getByTestId('outcome').count()).toBe(0);
    await context.close();
  });
});
