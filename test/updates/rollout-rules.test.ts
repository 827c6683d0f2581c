import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { FIRMWARE } from '@educard/gateway';
import {
  LightDevice,
  type LightDeviceOptions,
  launchChromium,
  nameReleaseKeys,
  until,
} from '@educard/scripts/support';
import { generateKeyPair, keyRole, type RosterKeySet } from '@educard/terminal-sdk';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAccount, PASSWORD } from '../support/accounts.js';
import { ADMIN_TOKEN, admin, enrollDevice, startBridge } from '../support/bridge.js';
import { addSmallRelease, fleetCards } from '../support/fleet.js';
import { screenshot, signInToBridge } from '../support/pages.js';

/**
 * The rollout's rules with a real bridge (in this process, on a clock the test sets) and light devices
 * that verify, download and report as a gateway does: the arrival window, the abort rule by share,
 * pause and resume, a device that was offline catching up.
 */

// Monday 3 March 2031, 07:40 in Shanghai: the arrival window (07:00 to 08:30, the bell at 08:00) is open.
const MONDAY_0740 = Date.parse('2031-03-03T07:40:00+08:00');
let now = MONDAY_0740;
let dir: string;
let bridge: Bridge;
const releaseKey = [generateKeyPair()];
let keySet: RosterKeySet;
const devices: LightDevice[] = [];
let browser: Browser | undefined;

async function addRelease(version: string): Promise<void> {
  await addSmallRelease({ bridgeHttp: bridge.httpUrl, dir, version, signers: releaseKey, now });
}

async function device(id: string, outcome?: LightDeviceOptions['outcome']): Promise<LightDevice> {
  const { url, username, password } = await enrollDevice(bridge.httpUrl, join(dir, id), id);
  const made = await LightDevice.connect({
    id,
    school: 'school-1',
    mqttUrl: url,
    bridgeHttp: bridge.httpUrl,
    username,
    password,
    firmware: '1.0.0',
    formats: FIRMWARE.dataFormats,
    keySet,
    holds: new Set(),
    ...(outcome ? { outcome } : {}),
  });
  devices.push(made);
  return made;
}

async function rollout(id: string) {
  return (await admin(bridge.httpUrl, `/v1/rollouts/${id}`)) as {
    state: string;
    reason?: string;
    devices: { device: string; state: string; detail?: string; phase: number }[];
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rollout-rules-'));
  bridge = await startBridge(join(dir, 'bridge'), { rollouts: { tickMs: 50 } }, { now: () => new Date(now) });
  const imported = await admin(bridge.httpUrl, '/v1/roster/school-1/import', {
    cards: fleetCards(3, now),
    calendar: { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] },
  });
  expect(imported.ok).toBe(true);
  // The root (on this development bridge) names the release key, as `educard-bridge keys releases` does.
  keySet = await nameReleaseKeys(
    bridge.httpUrl,
    ADMIN_TOKEN,
    join(dir, 'bridge', 'roster-keys.json'),
    keyRole(releaseKey),
  );
  expect(keySet.version).toBe(2);
  await addRelease('1.1.0');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(devices.map((d) => d.close()));
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('rollouts on the bridge', () => {
  it('waits while the arrival window is open and offers the release when it closes', async () => {
    now = MONDAY_0740;
    const d1 = await device('gate-w1');
    const made = await admin(bridge.httpUrl, '/v1/rollouts', {
      version: '1.1.0',
      devices: ['gate-w1'],
      phases: ['100%'],
      pace: 600,
    });
    const id = made.id as string;
    await until(
      async () => (await rollout(id)).devices[0]?.detail?.startsWith('waiting for the arrival window'),
      {
        what: 'the device to wait for the arrival window',
      },
    );
    expect(d1.offers).toHaveLength(0);
    expect((await rollout(id)).devices[0]).toMatchObject({
      state: 'pending',
      detail: 'waiting for the arrival window to close at 2031-03-03T00:30:00.000Z',
    });
    now = Date.parse('2031-03-03T08:31:00+08:00');
    expect(await d1.finished).toBe('committed');
    await until(async () => (await rollout(id)).state === 'done', { what: 'the rollout to be done' });
    const offer = d1.offers[0];
    // The offer carries the windows ahead: today's dismissal (16:15 to 17:15), and none on Saturday.
    expect(offer?.kind === 'offer' && offer.quiet).toContainEqual({
      from: '2031-03-03T08:15:00.000Z',
      to: '2031-03-03T09:15:00.000Z',
      why: 'dismissal',
    });
    expect(offer?.kind === 'offer' && offer.quiet.some((w) => w.from.startsWith('2031-03-08'))).toBe(false);
  });

  it('aborts when its share of failures is reached, and withdraws the devices not yet offered', async () => {
    now = Date.parse('2031-03-04T10:00:00+08:00');
    const ids = Array.from({ length: 10 }, (_, i) => `gate-p${String(i + 1).padStart(2, '0')}`);
    const failing = new Set(['gate-p02', 'gate-p03']);
    const fleet = await Promise.all(
      ids.map((id) =>
        device(id, () =>
          failing.has(id) ? { state: 'rolled-back', detail: 'self-test failed' } : { state: 'committed' },
        ),
      ),
    );
    const made = await admin(bridge.httpUrl, '/v1/rollouts', {
      version: '1.1.0',
      devices: ids,
      phases: ['canary', '50%', '100%'],
      pace: 600,
      abort: { failures: 10, percent: 30, minDevices: 3 },
    });
    const id = made.id as string;
    const done = await until(
      async () => {
        const held = await rollout(id);
        return held.state === 'aborted' ? held : undefined;
      },
      { what: 'the rollout to abort by its rule' },
    );
    expect(done.reason).toMatch(/^2 of \d devices failed, at least 30 % after 3$/);
    const phase = (device: string) => done.devices.find((d) => d.device === device);
    expect(phase('gate-p01')).toMatchObject({ phase: 0, state: 'committed' });
    for (const late of ids.slice(5)) {
      expect(phase(late)).toMatchObject({ phase: 2, state: 'withdrawn' });
      expect(fleet[ids.indexOf(late)]?.offers).toHaveLength(0);
    }
    const audit = (await admin(bridge.httpUrl, '/v1/audit?limit=100')) as {
      entries: { actor: string; action: string; target?: string }[];
    };
    expect(audit.entries).toContainEqual(
      expect.objectContaining({ actor: 'rollout-rule', action: 'rollouts.abort', target: `rollout:${id}` }),
    );
  });

  it('pauses and resumes, and offers the release to a device that was offline when it comes back', async () => {
    now = Date.parse('2031-03-04T20:00:00+08:00');
    const online = await device('gate-o1');
    const offline = await enrollDevice(bridge.httpUrl, join(dir, 'gate-o2'), 'gate-o2');
    const made = await admin(bridge.httpUrl, '/v1/rollouts', {
      version: '1.1.0',
      devices: ['gate-o1', 'gate-o2'],
      phases: ['100%'],
      pace: 600,
    });
    const id = made.id as string;
    expect((await admin(bridge.httpUrl, `/v1/rollouts/${id}/pause`, {})).state).toBe('paused');
    const offersWhilePaused = online.offers.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await rollout(id)).state).toBe('paused');
    expect((await admin(bridge.httpUrl, `/v1/rollouts/${id}/resume`, {})).state).toBe('running');
    expect(await online.finished).toBe('committed');
    expect(offersWhilePaused).toBeLessThanOrEqual(1);
    expect((await rollout(id)).devices.find((d) => d.device === 'gate-o2')?.state).toBe('pending');
    // The device that was offline connects: it is offered the release and takes it.
    const late = await LightDevice.connect({
      id: 'gate-o2',
      school: 'school-1',
      mqttUrl: bridge.mqttUrl,
      bridgeHttp: bridge.httpUrl,
      username: offline.username,
      password: offline.password,
      firmware: '1.0.0',
      formats: FIRMWARE.dataFormats,
      keySet,
      holds: new Set(),
    });
    devices.push(late);
    expect(await late.finished).toBe('committed');
    await until(async () => (await rollout(id)).state === 'done', { what: 'the rollout to be done' });
    const audit = (await admin(bridge.httpUrl, '/v1/audit?limit=100')) as {
      entries: { action: string; target?: string }[];
    };
    for (const action of ['rollouts.create', 'rollouts.pause', 'rollouts.resume'])
      expect(audit.entries).toContainEqual(expect.objectContaining({ action, target: `rollout:${id}` }));
  });

  it('shows a district admin each rollout with its phases and devices, and pauses, resumes and aborts it from the Updates page', async () => {
    now = Date.parse('2031-03-05T20:00:00+08:00');
    // Enrolled, never connected: the devices stay pending, so only the page's buttons move the rollout.
    for (const id of ['gate-u1', 'gate-u2']) await enrollDevice(bridge.httpUrl, join(dir, id), id);
    const made = await admin(bridge.httpUrl, '/v1/rollouts', {
      version: '1.1.0',
      devices: ['gate-u1', 'gate-u2'],
      phases: ['canary', '100%'],
      pace: 600,
    });
    const id = made.id as string;
    await makeAccount(bridge.httpUrl, { username: 'dana', role: 'district-admin' });
    browser = await launchChromium();
    const page = await signInToBridge(browser, bridge.httpUrl, 'dana', {
      password: PASSWORD,
      timezoneId: 'Asia/Shanghai',
    });
    await page.getByRole('link', { name: 'Updates' }).click();
    await page.locator(`tr[data-rollout="${id}"]`).click();
    const shown = page.locator(`section.rollout[data-rollout="${id}"]`);
    await expect.poll(() => shown.getAttribute('data-state')).toBe('running');
    await expect.poll(() => shown.locator('ol.phases li').count()).toBe(2);
    for (const device of ['gate-u1', 'gate-u2'])
      expect(await shown.locator(`tr[data-device="${device}"]`).getAttribute('data-state')).toBe('pending');
    await screenshot(page, 'bridge-updates-rollout');

    await shown.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => shown.getAttribute('data-state')).toBe('paused');
    expect((await rollout(id)).state).toBe('paused');
    await shown.getByRole('button', { name: 'Resume' }).click();
    await expect.poll(() => shown.getAttribute('data-state')).toBe('running');
    await shown.getByRole('button', { name: 'Abort' }).click();
    await expect.poll(() => shown.getAttribute('data-state')).toBe('aborted');
    await expect.poll(() => shown.getByRole('button').count()).toBe(0);
    expect((await rollout(id)).state).toBe('aborted');
    const audit = (await admin(bridge.httpUrl, '/v1/audit?limit=100')) as {
      entries: { actor: string; action: string; target?: string }[];
    };
    for (const action of ['rollouts.pause', 'rollouts.resume', 'rollouts.abort'])
      expect(audit.entries).toContainEqual(
        expect.objectContaining({ actor: 'dana', action, target: `rollout:${id}` }),
      );
  }, 90_000);
});
