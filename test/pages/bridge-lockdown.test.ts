import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge, LockdownView } from '@educard/cloud-bridge';
import {
  type Gateway,
  RECORDING_BOARD_PINS as PINS,
  type RecordingIO,
  RosterStore,
  recordingIoFor,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { launchChromium, until } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleCard, sampleUid, validAround } from '@educard/terminal-sdk/testing';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, makeAccount, PASSWORD } from '../support/accounts.js';
import { ADMIN_TOKEN, enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';
import { screenshot, seriousViolations, signInToBridge } from '../support/pages.js';

/**
 * The lockdown on the operations page: the school's gatehouse (an operator) locks the school down in a
 * real Chromium, a real gateway takes the order, the page shows it applied, and the lifting likewise.
 */

let dir: string;
let bridge: Bridge;
let browser: Browser;
let gate: Gateway;

async function operations(username: string, lang = 'en'): Promise<Page> {
  const page = await signInToBridge(browser, bridge.httpUrl, username, {
    password: PASSWORD,
    timezoneId: 'Asia/Shanghai',
    timeoutMs: 10_000,
  });
  if (lang !== 'en') await page.goto(`${bridge.httpUrl}/?lang=${lang}`);
  await page.locator('.bar .tab', { hasText: lang === 'zh' ? '运维' : 'Operations' }).click();
  return page;
}

const version = async () =>
  (
    (await asAdmin(bridge.httpUrl, 'GET', '/v1/schools/school-1/lockdown')).body as {
      lockdown: { version: number };
    }
  ).lockdown.version;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-lockdown-'));
  bridge = await startBridge(join(dir, 'bridge'));
  const imported = await asAdmin(bridge.httpUrl, 'POST', '/v1/roster/school-1/import', {
    cards: [sampleCard(1, { schedules: [], ...validAround(Date.now()) })],
  });
  expect(imported.status).toBe(200);
  await makeAccount(bridge.httpUrl, { username: 'gatehouse', role: 'operator', school: 'school-1' });
  const dataDir = join(dir, 'gate-01');
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const mqtt = await enrollDevice(bridge.httpUrl, dataDir, 'gate-01');
  gate = await startUplinkGateway(dataDir, 'gate-01', mqtt, bridge.httpUrl);
  await until(() => gate.roster.view?.version === 1, { what: 'the roster at the gate' });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await gate?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the lockdown on the operations page', { timeout: 60_000 }, () => {
  it('asks before it locks the school down, shows each gate applying it, and lifts it', async () => {
    const page = await operations('gatehouse');
    const section = page.locator('section.lockdown');
    await section.waitFor();
    expect(await section.getAttribute('data-lockdown')).toBe('off');
    await page.getByLabel('Reason').fill('intruder at the north gate');
    // Said no to the question: nothing is ordered (the question was asked, so nothing was sent).
    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.dismiss();
    });
    await page.getByRole('button', { name: 'Lock down the school' }).click();
    expect(asked).toBe('Lock down the school? Every gate refuses entries until it is lifted.');
    expect(await section.getAttribute('data-lockdown')).toBe('off');
    expect(await version()).toBe(0);

    page.once('dialog', (dialog) => {
      expect(dialog.message()).toBe('Lock down the school? Every gate refuses entries until it is lifted.');
      void dialog.accept();
    });
    await page.getByRole('button', { name: 'Lock down the school' }).click();
    await page.locator('section.lockdown[data-lockdown="on"]').waitFor();
    expect(await page.getByRole('status').textContent()).toMatch(
      /^In lockdown: the gates refuse entries, exits go on · gatehouse · .+ · intruder at the north gate$/,
    );
    await until(() => gate.report().lockdown.bridge.active, { what: 'the order at the gate' });
    await section.locator('li[data-gate="gate-01"].applied').waitFor();
    expect(await section.locator('p.outside.none').textContent()).toBe(
      'Nobody refused since the lockdown began',
    );

    // A pupil arriving is refused: the card lists them, for the gatehouse to go to.
    const readers = gate.readers as SimulatedReaderDriver;
    readers.present('sim-in', { uid: sampleUid(1) });
    readers.remove('sim-in');
    const pupil = sampleCard(1);
    const row = section.locator(`table.outside tr[data-person="${pupil.personId}"]`);
    await row.waitFor({ timeout: 10_000 });
    expect(await section.locator('table.outside caption').textContent()).toBe('Kept outside: 1');
    expect(await row.locator('td').allTextContents()).toEqual([
      pupil.displayName,
      pupil.class,
      expect.stringMatching(/^\d\d:\d\d( [AP]M)?$/),
      'gate-01',
    ]);
    // White on the card's red, readable: the list is what the gatehouse acts on.
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'bridge-operations-lockdown');

    await page.getByRole('button', { name: 'Lift the lockdown' }).click();
    await page.locator('section.lockdown[data-lockdown="off"]').waitFor();
    expect(await section.locator('table.outside').count()).toBe(0);
    await until(() => !gate.report().lockdown.bridge.active, { what: 'the lifting at the gate' });
    expect(await version()).toBe(2);
    await page.context().close();
  });

  it('shows a gate locked by its own switch, and whom it keeps outside, until the switch is off', async () => {
    const dataDir = join(dir, 'gate-02');
    const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
    await mkdir(join(dataDir, 'roster'), { recursive: true });
    await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
    const mqtt = await enrollDevice(bridge.httpUrl, dataDir, 'gate-02');
    let board: RecordingIO | undefined;
    const side = await startUplinkGateway(
      dataDir,
      'gate-02',
      mqtt,
      bridge.httpUrl,
      {},
      {
        // A second gate into the same zone as the first, as a school's side gate is.
        station: { id: 'gate-side', zone: 'main-gate', debounceMs: 0 },
        io: {
          pins: { relay: PINS.relay, lockdown: PINS.lockdown },
          board: (config) => {
            board = recordingIoFor(config);
            return board;
          },
        },
      },
    );
    try {
      await until(() => side.roster.view?.version === 1, { what: 'the roster at the side gate' });
      const page = await operations('gatehouse');
      const section = page.locator('section.lockdown');
      await section.waitFor();
      expect(await section.getAttribute('data-lockdown')).toBe('off');

      // The guard at the side gate turns its switch (a contact to ground, the default): no order at
      // the bridge, the gate refuses entries.
      board?.setInput(PINS.lockdown, 0);
      await section.locator('p.lockdown-switch[data-switch="gate-02"]').waitFor();
      expect(await section.getAttribute('data-lockdown')).toBe('switch');
      expect(await section.locator('p.lockdown-switch').textContent()).toMatch(
        /^gate-02: locked by its own switch at the gate; lifted there · .+/,
      );
      const readers = side.readers as SimulatedReaderDriver;
      readers.present('sim-in', { uid: sampleUid(1) });
      readers.remove('sim-in');
      await until(() => side.report().lastTaps.at(-1)?.reason === 'lockdown', { what: 'the refusal' });
      const pupil = sampleCard(1);
      await section.locator(`table.outside tr[data-person="${pupil.personId}"]`).waitFor({ timeout: 10_000 });
      const view = (await asAdmin(bridge.httpUrl, 'GET', '/v1/schools/school-1/lockdown'))
        .body as unknown as LockdownView;
      expect(view.lockdown.active).toBe(false);
      expect(view.gates.find((g) => g.device === 'gate-02')?.switchSince).toEqual(expect.any(String));
      expect(view.gates.find((g) => g.device === 'gate-01')).not.toHaveProperty('switchSince');
      expect(view.outside).toMatchObject([
        { personId: pupil.personId, reason: 'lockdown', device: 'gate-02' },
      ]);
      expect(await seriousViolations(page)).toEqual([]);
      await screenshot(page, 'bridge-operations-lockdown-switch');
      // The technician's terminal says the same.
      const cli = await bridgeCli([
        'lockdown',
        'status',
        '--school',
        'school-1',
        '--url',
        bridge.httpUrl,
        '--admin-token',
        ADMIN_TOKEN,
      ]);
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(
        /gate gate-02 is in LOCKDOWN by its own switch since \S+: it refuses entries/,
      );
      expect(cli.stdout).toMatch(/1 refused entry since the switch and not in since/);

      board?.setInput(PINS.lockdown, 1);
      await page.locator('section.lockdown[data-lockdown="off"]').waitFor();
      expect(await section.locator('table.outside').count()).toBe(0);
      await page.context().close();
    } finally {
      await side.stop();
    }
  });

  it('speaks Chinese to a Chinese browser', async () => {
    const page = await operations('gatehouse', 'zh');
    await page.locator('section.lockdown').waitFor();
    expect(await page.locator('section.lockdown h2').textContent()).toBe('封校');
    await page.getByRole('button', { name: '封校：所有闸机禁止入校' }).waitFor();
    await page.context().close();
  });
});
