import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
  terminalCredential,
} from '@educard/gateway';
import { freePort, launchChromium } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { TerminalClient } from '@educard/terminal-sdk/terminal-client';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, admin, enrollDevice, startBridge } from '../support/bridge.js';
import { screenshot } from '../support/pages.js';

/**
 * The librarian's desk page in a real Chromium, against a library gateway enrolled with a real bridge:
 * a tap shows the patron, a scanner (keyboard input, no clicks) checks books out and in, the loan
 * limit and a lost card are refused with the reason on screen, a reload mid-transaction makes no
 * second loan, and with the bridge gone the page says so while the desk goes on lending.
 */
let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway;
let browser: Browser;
let page: Page;
let desk: { password: string };
let ports: { mqtt: number; http: number };

const SCHOOL = 'school-1';
// The desk, the bridge and the page run on the real clock: so do the cards' dates.
const pupil = sampleCard(1, { zones: ['library'], schedules: [], ...validAround(Date.now()) });
const lost = sampleCard(2, { zones: ['library'], schedules: [], status: 'lost', ...validAround(Date.now()) });
const ITEMS = ['B1', 'B2', 'B3'].map((itemId, i) => ({ itemId, title: `Book ${i + 1}` }));
const RULE = { loanLimit: 2, loanDays: 14, renewals: 1 };
const logger = createLogger('desk', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' });

const startTheBridge = async () => {
  bridge = await startBridge(join(dir, 'bridge'), { mqtt: { port: ports.mqtt }, http: { port: ports.http } });
  return bridge;
};
const openLoans = async () => {
  const response = await fetch(`http://127.0.0.1:${ports.http}/v1/library/${SCHOOL}/loans?open=true`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return ((await response.json()) as { loans: { itemId: string }[] }).loans.map((loan) => loan.itemId).sort();
};
const scan = async (itemId: string) => {
  await page.keyboard.type(itemId);
  await page.keyboard.press('Enter');
};
const outcome = async () => ({
  kind: await page.getByTestId('outcome').getAttribute('data-kind'),
  text: await page.getByTestId('outcome').textContent(),
});

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'desk-'));
  ports = { mqtt: await freePort(), http: await freePort() };
  const running = await startTheBridge();
  await admin(running.httpUrl, `/v1/roster/${SCHOOL}/import`, { cards: [pupil, lost] });
  await admin(running.httpUrl, `/v1/catalogue/${SCHOOL}/import`, {
    items: ITEMS,
    rules: { student: RULE, teacher: RULE, staff: RULE },
  });
  const gatewayDir = join(dir, 'gateway');
  const enrolled = await enrollDevice(running.httpUrl, gatewayDir, 'gw-library');
  const anchor = (await (await fetch(`${running.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(gatewayDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(gatewayDir, 'roster'), anchor);
  const credential = terminalCredential('desk-1', ['library-1']);
  desk = credential;
  gateway = await Gateway.start({
    config: parseConfig({
      device: { id: 'gw-library', school: SCHOOL },
      dataDir: gatewayDir,
      station: { type: 'library', id: 'library-1', zone: 'library', debounceMs: 0 },
      readers: { simulated: ['desk-reader'], bindings: [{ pattern: 'desk-reader', direction: 'in' }] },
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, terminals: [credential.entry] },
      pages: { host: '127.0.0.1', port: 0 },
      uplink: {
        url: enrolled.url,
        username: enrolled.username,
        password: enrolled.password,
        bridgeHttp: running.httpUrl,
        backoff: { initialMs: 100, maxMs: 500 },
      },
    }),
    logger,
  });
  browser = await launchChromium();
  page = await browser.newPage({ locale: 'en-US' });
  await page.goto(
    `${gateway.terminalPorts.pages}/desk.html?lang=en#terminal=desk-1&password=${credential.password}&station=library-1`,
  );
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the library desk page in a real browser', () => {
  it('lends and takes back by tap and scanner, refuses with the reason, and survives a reload and an outage', {
    timeout: 90_000,
  }, async () => {
    await expect
      .poll(() => gateway.localState().catalogueVersion ?? 0, { timeout: 15_000 })
      .toBeGreaterThan(0);
    await expect.poll(() => gateway.localState().rosterVersion, { timeout: 15_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByTestId('link').textContent()).toContain('connected');
    await expect
      .poll(() => page.getByTestId('uplink').getAttribute('data-online'), { timeout: 10_000 })
      .toBe('true');
    const driver = gateway.readers as SimulatedReaderDriver;
    const tap = (card: typeof pupil) => driver.present('desk-reader', { uid: card.credential.uid as string });

    tap(pupil);
    await expect.poll(() => page.getByTestId('patron-name').textContent()).toBe(pupil.displayName);
    expect(await page.getByTestId('loan-count').textContent()).toBe('Loans: 0 / 2');
    await scan('B1');
    await expect.poll(outcome).toEqual({ kind: 'ok', text: expect.stringContaining('Checked out: Book 1') });
    await expect.poll(() => page.getByTestId('loan-count').textContent()).toBe('Loans: 1 / 2');
    await screenshot(page, 'desk-checked-out');

    // A page reloaded after it sent a checkout and before the answer came: it sends the same
    // transaction again, and the station answers it once.
    const other = await TerminalClient.connect({
      url: `mqtt://127.0.0.1:${gateway.terminalPorts.tcp}`,
      terminal: 'desk-1',
      password: desk.password,
      station: 'library-1',
    });
    const pending = {
      name: 'library.checkout',
      args: { personId: pupil.personId, itemId: 'B2', txn: 'reload-txn-0001' },
    };
    expect((await other.request('library.checkout', pending.args)).status).toBe('ok');
    await other.close();
    await page.evaluate(
      (value) => sessionStorage.setItem('educard.desk.pending', value),
      JSON.stringify(pending),
    );
    await page.reload();
    await expect.poll(outcome).toEqual({ kind: 'ok', text: expect.stringContaining('Checked out: Book 2') });
    tap(pupil);
    await expect.poll(() => page.getByTestId('loan-count').textContent()).toBe('Loans: 2 / 2');

    await scan('B3');
    await expect
      .poll(outcome)
      .toEqual({ kind: 'refused', text: expect.stringContaining('Loan limit reached') });
    await screenshot(page, 'desk-loan-limit');
    await page.keyboard.press('F2');
    await scan('B1');
    await expect.poll(outcome).toEqual({ kind: 'ok', text: expect.stringContaining('Returned: Book 1') });

    tap(lost);
    await expect.poll(() => page.getByTestId('deny-reason').textContent()).toBe('Card reported lost');
    await screenshot(page, 'desk-lost-card');

    // The bridge goes away: the page says the gateway is offline, and the desk lends on.
    await bridge?.stop();
    bridge = undefined;
    await expect
      .poll(() => page.getByTestId('uplink').getAttribute('data-online'), { timeout: 15_000 })
      .toBe('false');
    await screenshot(page, 'desk-offline');
    tap(pupil);
    await expect.poll(() => page.getByTestId('patron-name').textContent()).toBe(pupil.displayName);
    await scan('B3');
    await expect.poll(outcome).toEqual({ kind: 'ok', text: expect.stringContaining('Checked out: Book 3') });

    await startTheBridge();
    await expect
      .poll(() => page.getByTestId('uplink').getAttribute('data-online'), { timeout: 20_000 })
      .toBe('true');
    await expect.poll(openLoans, { timeout: 20_000 }).toEqual(['B2', 'B3']);
  });
});
