import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { type Gateway, RosterStore } from '@educard/gateway';
import { launchChromium, until } from '@educard/scripts/support';
import { type KeyRole, maskCardId } from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, makeAccount, PASSWORD } from '../support/accounts.js';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';
import { screenshot, signInToBridge } from '../support/pages.js';

/**
 * The operations page after a pupil moved between two schools, each with a real gateway: the district
 * admin sees both schools' versions and each gate that applied its own; an operator of the old school
 * sees their gates, and of the new school only the version.
 */

const ZONE = 'Asia/Shanghai';
const DAY = 86_400_000;
const calendar = { timeZone: ZONE, holidays: [], closures: [], makeUpDays: [] };
const valid = {
  validFrom: new Date(Date.now() - 30 * DAY).toISOString(),
  validUntil: new Date(Date.now() + 300 * DAY).toISOString(),
};
const moving = sampleCard(1, { ...valid, class: '3-1', displayName: 'Pupil 1', schedules: [] }, 's-a');

let dir: string;
let bridge: Bridge;
let browser: Browser;
const gateways: Gateway[] = [];

async function startGate(id: string, school: string): Promise<Gateway> {
  const dataDir = join(dir, id);
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const mqtt = await enrollDevice(bridge.httpUrl, dataDir, id, school);
  const gateway = await startUplinkGateway(dataDir, id, mqtt, bridge.httpUrl, {}, { school });
  gateways.push(gateway);
  return gateway;
}

async function operations(username: string): Promise<Page> {
  const page = await signInToBridge(browser, bridge.httpUrl, username, {
    password: PASSWORD,
    timezoneId: ZONE,
    timeoutMs: 10_000,
  });
  await page.locator('.bar .tab', { hasText: 'Operations' }).click();
  return page;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-transfers-'));
  bridge = await startBridge(join(dir, 'bridge'));
  for (const [school, cards] of [
    ['s-a', [moving]],
    ['s-b', [sampleCard(9, { ...valid, class: '5-2', schedules: [] }, 's-b')]],
  ] as const)
    expect(
      (await asAdmin(bridge.httpUrl, 'POST', `/v1/roster/${school}/import`, { cards, calendar })).status,
    ).toBe(200);
  await makeAccount(bridge.httpUrl, { username: 'dora', role: 'district-admin' });
  await makeAccount(bridge.httpUrl, { username: 'otto', role: 'operator', school: 's-a' });
  const gateA = await startGate('gate-a', 's-a');
  const gateB = await startGate('gate-b', 's-b');
  await until(() => gateA.roster.view?.version === 1 && gateB.roster.view?.version === 1, {
    what: 'both gates hold version 1',
  });
  await makeAccount(bridge.httpUrl, { username: 'bea', role: 'operator', school: 's-b' });
  // A book the pupil has not returned to the old school's library.
  const lent = {
    loanId: 'desk-a:1',
    itemId: 'B1',
    personId: moving.personId,
    dueAt: new Date(Date.now() + 7 * DAY).toISOString(),
  };
  bridge.store.commitRecords(
    'desk-a',
    's-a',
    libraryRecords('desk-a', [['library.checkout', new Date().toISOString(), lent]]),
  );
  const moved = await asAdmin(bridge.httpUrl, 'POST', `/v1/people/${moving.personId}/transfer`, {
    to: 's-b',
    class: '5-2',
  });
  expect(moved.status).toBe(200);
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const gateway of gateways) await gateway.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('recent transfers on the operations page', { timeout: 60_000 }, () => {
  it('shows the district admin both schools’ versions and, gate by gate, when each applied', async () => {
    const page = await operations('dora');
    const transfer = page.locator(`.transfers li[data-transfer="${moving.personId}"]`);
    await transfer.waitFor();
    expect(await transfer.locator('p').first().textContent()).toMatch(
      new RegExp(
        `Pupil 1 · s-a → s-b · first day \\d{4}-\\d\\d-\\d\\d · .* · admin-token · \\*+${maskCardId(moving.cardId).slice(-4)}`,
      ),
    );
    for (const [school, gate] of [
      ['s-a', 'gate-a'],
      ['s-b', 'gate-b'],
    ])
      await transfer.locator(`li[data-school="${school}"] span[data-gate="${gate}"].applied`).waitFor();
    expect(await transfer.locator('li[data-school="s-a"]').textContent()).toMatch(/^s-a v2: gate-a applied/);
    expect(await transfer.locator('p.books-out').textContent()).toBe(
      '1 book(s) still out at the s-a library',
    );
    await screenshot(page, 'bridge-operations-transfer');
    await page.context().close();
  });

  it('shows an operator of the old school their own gates, and of the new school the version only', async () => {
    const page = await operations('otto');
    const transfer = page.locator(`.transfers li[data-transfer="${moving.personId}"]`);
    await transfer.locator('li[data-school="s-a"] span[data-gate="gate-a"].applied').waitFor();
    expect(await transfer.locator('li[data-school="s-b"]').textContent()).toBe('s-b v2: ');
    expect(await transfer.locator('li[data-school="s-b"] span[data-gate]').count()).toBe(0);
    expect(await transfer.locator('p.books-out').count()).toBe(1);
    await page.context().close();
  });

  it("shows an operator of the new school nothing of the old school's library", async () => {
    const page = await operations('bea');
    const transfer = page.locator(`.transfers li[data-transfer="${moving.personId}"]`);
    await transfer.locator('li[data-school="s-b"] span[data-gate="gate-b"].applied').waitFor();
    expect(await transfer.locator('p.books-out').count()).toBe(0);
    await page.context().close();
  });
});
