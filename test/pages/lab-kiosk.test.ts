import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
  terminalCredential,
} from '@educard/gateway';
import { launchChromium } from '@educard/scripts/support';
import { sampleCard, TestAuthority, validAround } from '@educard/terminal-sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { screenshot } from '../support/pages.js';

let dir: string;
let gateway: Gateway;
let browser: Browser;
let page: Page;

const authority = new TestAuthority('school-1');
// The gateway and the page run on the real clock: so do the cards' dates.
const pupil = sampleCard(1, { schedules: [], zones: ['lab'], ...validAround(Date.now()) });
const lost = sampleCard(2, { schedules: [], zones: ['lab'], status: 'lost', ...validAround(Date.now()) });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kiosk-'));
  const kiosk = terminalCredential('kiosk-1', ['lab-1']);
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  gateway = await Gateway.start({
    config: parseConfig({
      device: { id: 'gw-lab', school: 'school-1' },
      dataDir: dir,
      station: {
        type: 'lab',
        id: 'lab-1',
        zone: 'lab',
        debounceMs: 0,
        seats: [{ id: 'A1' }, { id: 'A2' }, { id: 'A3' }],
        closing: '23:59',
      },
      readers: { simulated: ['lab-door'], bindings: [{ pattern: 'lab-door', direction: 'in' }] },
      terminals: { host: '127.0.0.1', port: 0, wsPort: false, terminals: [kiosk.entry] },
      pages: { host: '127.0.0.1', port: 0 },
    }),
    logger: createLogger('gateway', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
  });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(1, [pupil, lost]);
  await gateway.acceptRoster(roster.manifest, roster.body);

  browser = await launchChromium();
  page = await browser.newPage({ locale: 'en-US' });
  await page.goto(
    `${gateway.terminalPorts.pages}/kiosk.html?lang=en#terminal=kiosk-1&password=${kiosk.password}&station=lab-1`,
  );
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the computer-room kiosk page in a real browser', () => {
  it('shows the seats, a sign-in and a sign-out by tap, a denied card, and the offline indicator', async () => {
    await expect.poll(() => page.getByTestId('link').textContent()).toContain('connected');
    // No uplink configured: the gateway does not reach the bridge, and the page says so.
    await expect.poll(() => page.getByTestId('uplink').getAttribute('data-online')).toBe('false');
    await expect.poll(() => page.locator('[data-state="free"]').count()).toBe(3);

    const driver = gateway.readers as SimulatedReaderDriver;
    driver.present('lab-door', { uid: pupil.credential.uid as string });
    await expect.poll(() => page.getByTestId('last-tap').getAttribute('data-action')).toBe('signin');
    await expect.poll(() => page.locator('[data-seat="A1"]').getAttribute('data-state')).toBe('taken');
    expect(await page.locator('[data-seat="A1"]').textContent()).toContain(pupil.displayName);
    await screenshot(page, 'kiosk-signed-in');

    driver.present('lab-door', { uid: pupil.credential.uid as string });
    await expect.poll(() => page.getByTestId('last-tap').getAttribute('data-action')).toBe('signout');
    await expect.poll(() => page.locator('[data-state="free"]').count()).toBe(3);

    driver.present('lab-door', { uid: lost.credential.uid as string });
    await expect
      .poll(() => page.getByTestId('last-tap').textContent())
      .toContain('Denied: Card reported lost');
    await screenshot(page, 'kiosk-denied');
  });
});
