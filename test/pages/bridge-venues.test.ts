import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway } from '@educard/gateway';
import { launchChromium, until } from '@educard/scripts/support';
import { SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B, sampleUid } from '@educard/terminal-sdk/testing';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAccount, PASSWORD } from '../support/accounts.js';
import { startBridge } from '../support/bridge.js';
import { screenshot, signInToBridge } from '../support/pages.js';
import {
  nameCardIssuers,
  venuePupil as pupil,
  startVenueGateway,
  tapAt,
  venueReady,
} from '../support/venue.js';

// A venue's visits per day on the operations page, on the real clock (every date derived from it):
// two pupils of two issuers, one of them out and back in (one visit), and a UID-only card refused.

const ZONE = 'Asia/Shanghai';
let dir: string;
let bridge: Bridge;
let venue: Gateway;
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-venues-'));
  bridge = await startBridge(join(dir, 'bridge'));
  await nameCardIssuers(bridge, [SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B]);
  venue = await startVenueGateway(bridge, join(dir, 'venue'), 'venue-gw', { station: { timeZone: ZONE } });
  await venueReady(venue);
  await makeAccount(bridge.httpUrl, { username: 'dora', role: 'district-admin' });
  expect(tapAt(venue, 'door-in', pupil(1)).reason).toBe('ok');
  expect(tapAt(venue, 'door-in', pupil(500_001)).reason).toBe('ok');
  expect(tapAt(venue, 'door-out', pupil(1)).record.type).toBe('venue.exit');
  expect(tapAt(venue, 'door-in', pupil(1)).record.data).toMatchObject({ reentry: true });
  expect(tapAt(venue, 'door-in', { uid: sampleUid(9) }).reason).toBe('uid-only-card');
  await until(() => bridge.store.countEvents() >= 5, { what: 'the venue events at the bridge' });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await venue?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('venue visits on the operations page', { timeout: 60_000 }, () => {
  it("shows the venue's day: visitors counted once, the re-entry, the refusal", async () => {
    const page = await signInToBridge(browser, bridge.httpUrl, 'dora', {
      password: PASSWORD,
      timezoneId: ZONE,
      timeoutMs: 10_000,
    });
    await page.locator('.bar .tab', { hasText: 'Operations' }).click();
    const day = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date());
    const row = page.locator(`.venues tr[data-venue="science-museum"][data-day="${day}"]`);
    await row.waitFor();
    expect(await row.locator('td').allTextContents()).toEqual([
      day,
      'science-museum (museum)',
      '2',
      '1',
      '0',
      '1',
    ]);
    await screenshot(page, 'bridge-operations-venues');
    await page.context().close();
  });
});
