import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { type Gateway, RosterStore, type SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleCard, sampleUid, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asAdmin, Browser, makeAccount } from '../support/accounts.js';
import { ADMIN_TOKEN, enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';
import { bridgeCli } from '../support/cli.js';

/**
 * A school's lockdown ordered at the bridge: a real bridge (its store on the run's backend) and real
 * gateways over MQTT, one of them offline when the order is given, one restarted with no network.
 */

let dir: string;
let bridge: Bridge;
const running = new Set<Gateway>();
const credentials = new Map<string, { url: string; username: string; password: string }>();

function credentialsOf(id: string): { url: string; username: string; password: string } {
  const held = credentials.get(id);
  if (!held) throw new Error(`${id} is not enrolled`);
  return held;
}

async function enroll(id: string): Promise<void> {
  const dataDir = join(dir, id);
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  credentials.set(id, await enrollDevice(bridge.httpUrl, dataDir, id));
}

async function startGate(id: string, uplink: Record<string, unknown> = {}): Promise<Gateway> {
  const gateway = await startUplinkGateway(join(dir, id), id, credentialsOf(id), bridge.httpUrl, uplink);
  running.add(gateway);
  await until(() => gateway.roster.view?.version === 1, { what: `${id}'s roster` });
  return gateway;
}

async function stopGate(gateway: Gateway): Promise<void> {
  running.delete(gateway);
  await gateway.stop();
}

/** A card shown at the gate's entry reader: the outcome it journaled. */
async function enter(gateway: Gateway, card: number): Promise<string> {
  const before = gateway.report().lastTaps.length;
  const driver = gateway.readers as SimulatedReaderDriver;
  driver.present('sim-in', { uid: sampleUid(card) });
  driver.remove('sim-in');
  await until(() => gateway.report().lastTaps.length > before, { what: 'the tap' });
  const tap = gateway.report().lastTaps.at(-1);
  return `${tap?.decision} ${tap?.reason}`;
}

const lockdownOf = async (school = 'school-1') =>
  (await asAdmin(bridge.httpUrl, 'GET', `/v1/schools/${school}/lockdown`)).body as {
    lockdown: { active: boolean; version: number; reason?: string };
    gates: { device: string; version: number; active: boolean; current: boolean }[];
    outside: {
      personId: string;
      name: string;
      class?: string;
      role?: string;
      reason: string;
      device: string;
    }[];
  };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockdown-'));
  bridge = await startBridge(join(dir, 'bridge'), { http: { port: 0, pages: false } });
  credentials.clear();
  const imported = await asAdmin(bridge.httpUrl, 'POST', '/v1/roster/school-1/import', {
    cards: [
      sampleCard(1, { schedules: [], ...validAround(Date.now()) }),
      sampleCard(2, { schedules: [], ...validAround(Date.now()) }),
      sampleCard(3, { role: 'teacher', schedules: [], ...validAround(Date.now()) }),
    ],
  });
  expect(imported.status).toBe(200);
});
afterEach(async () => {
  for (const gateway of running) await gateway.stop();
  running.clear();
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("a school's lockdown ordered at the bridge", () => {
  it('reaches a gate at once and one offline at its next connection, survives a restart with no network, and is lifted', async () => {
    await enroll('gate-01');
    await enroll('gate-02');
    const gate1 = await startGate('gate-01');
    expect(await enter(gate1, 1)).toBe('grant ok');

    const ordered = await asAdmin(bridge.httpUrl, 'POST', '/v1/schools/school-1/lockdown', {
      active: true,
      reason: 'intruder at the north gate',
    });
    expect(ordered.status, JSON.stringify(ordered.body)).toBe(200);
    expect(ordered.body).toMatchObject({
      lockdown: { school: 'school-1', active: true, version: 1, reason: 'intruder at the north gate' },
      sent: 2,
      unsent: [],
    });
    await until(() => gate1.report().lockdown.bridge.active, { what: 'the order at gate-01' });
    expect(await enter(gate1, 1)).toBe('deny lockdown');
    expect(await enter(gate1, 2)).toBe('deny lockdown');
    // Teachers and staff still come in (policy.lockdown: staff-only, the default).
    expect(await enter(gate1, 3)).toBe('grant ok');

    await until(async () => (await lockdownOf()).gates.find((g) => g.device === 'gate-01')?.current, {
      what: "gate-01's confirmation",
    });
    // Who the lockdown keeps outside: the pupil refused on arriving; not the one who came in before
    // it (refused at a second tap, but inside), nor the teacher let in.
    await until(async () => (await lockdownOf()).outside.length > 0, {
      what: 'the refused pupil at the bridge',
    });
    const pupil = sampleCard(2);
    expect((await lockdownOf()).outside).toEqual([
      expect.objectContaining({
        personId: pupil.personId,
        name: pupil.displayName,
        class: pupil.class,
        role: 'student',
        reason: 'lockdown',
        device: 'gate-01',
      }),
    ]);
    // The school's one alarm, not one a gate (its journaled order raises none), and each gate's part:
    // gate-01 has journaled the order, gate-02 not yet.
    const alarms = (await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/alarms?open=true')).body.alarms as {
      kind: string;
      school?: string;
      device?: string;
      message: string;
    }[];
    expect(alarms.filter((a) => a.kind.includes('lockdown'))).toEqual([
      expect.objectContaining({
        kind: 'school.lockdown',
        school: 'school-1',
        message: 'lockdown ordered by admin-token: intruder at the north gate; the gates refuse entries',
      }),
    ]);
    expect((await lockdownOf()).gates).toContainEqual(
      expect.objectContaining({ device: 'gate-02', version: 0, current: false }),
    );

    // gate-02 was off: its first connection's sync answer carries the order.
    const gate2 = await startGate('gate-02');
    await until(() => gate2.report().lockdown.bridge.active, { what: 'the order at gate-02' });
    expect(await enter(gate2, 1)).toBe('deny lockdown');
    await until(async () => (await lockdownOf()).gates.every((g) => g.current), { what: 'both gates' });

    // A gate restarted with its broker out of reach stays in lockdown: the order is on its disk.
    await stopGate(gate1);
    const cut = await startUplinkGateway(
      join(dir, 'gate-01'),
      'gate-01',
      { ...credentialsOf('gate-01'), url: 'mqtt://127.0.0.1:9' },
      bridge.httpUrl,
    );
    running.add(cut);
    expect(cut.report().lockdown.bridge).toMatchObject({ active: true, version: 1 });
    expect(await enter(cut, 1)).toBe('deny lockdown');
    await stopGate(cut);
    const back = await startGate('gate-01');

    const lifted = await asAdmin(bridge.httpUrl, 'POST', '/v1/schools/school-1/lockdown', { active: false });
    expect(lifted.body).toMatchObject({ lockdown: { active: false, version: 2 }, sent: 2 });
    await until(() => !back.report().lockdown.bridge.active && !gate2.report().lockdown.bridge.active, {
      what: 'the lifting at both gates',
    });
    expect(await enter(back, 1)).toBe('grant ok');
    const open = (await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/alarms?open=true')).body.alarms as {
      kind: string;
    }[];
    expect(open.map((a) => a.kind)).not.toContain('school.lockdown');
    expect((await lockdownOf()).outside).toEqual([]);
    await until(async () => (await lockdownOf()).gates.every((g) => g.current && !g.active), {
      what: 'both gates lifted',
    });
    const audit = (await asAdmin(bridge.httpUrl, 'GET', '/v1/audit?action=lockdown.set')).body.entries as {
      action: string;
      outcome: string;
      detail?: { active: boolean; version: number };
    }[];
    expect(audit.map((e) => [e.outcome, e.detail?.active, e.detail?.version])).toEqual([
      ['ok', false, 2],
      ['ok', true, 1],
    ]);
  });

  it('educard-bridge lockdown starts, shows and lifts it', { timeout: 90_000 }, async () => {
    await enroll('gate-01');
    const gate = await startGate('gate-01');
    const cli = (...args: string[]) =>
      bridgeCli([...args, '--school', 'school-1', '--url', bridge.httpUrl, '--admin-token', ADMIN_TOKEN]);
    const started = await cli('lockdown', 'start', '--reason', 'drill');
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toContain('school school-1: lockdown ORDERED (order 1), sent to 1 gate(s).');
    await until(async () => (await lockdownOf()).gates.every((g) => g.current), { what: 'the gate' });
    expect((await cli('lockdown', 'status')).stdout).toContain(
      'nobody has been refused entry since the order',
    );
    expect(await enter(gate, 1)).toBe('deny lockdown');
    await until(async () => (await lockdownOf()).outside.length === 1, { what: 'the refusal at the bridge' });
    const shown = await cli('lockdown', 'status');
    expect(shown.stdout).toMatch(/school school-1 is in LOCKDOWN \(order 1, by admin-token at \S+: drill\)/);
    expect(shown.stdout).toMatch(/gate-01 +yes +order 1 +yes/);
    const pupil = sampleCard(1);
    expect(shown.stdout).toContain('1 refused entry since the order and not in since (outside the gates):');
    expect(shown.stdout).toMatch(new RegExp(`${pupil.displayName} +${pupil.class} +student +\\S+ +gate-01`));
    const lifted = await cli('lockdown', 'lift', '--json');
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(JSON.parse(lifted.stdout)).toMatchObject({ lockdown: { active: false, version: 2 }, sent: 1 });
    await until(() => !gate.report().lockdown.bridge.active, { what: 'the lifting' });
    const unknown = await bridgeCli([
      'lockdown',
      'start',
      '--school',
      'school-9',
      '--url',
      bridge.httpUrl,
      '--admin-token',
      ADMIN_TOKEN,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(
      /school school-9 has no gate enrolled at this bridge\n.*check the school id/,
    );
    expect((await bridgeCli(['lockdown', 'start'])).code).toBe(2);
  });

  it("is the school office's, its gatehouse's and the district's to order; not a teacher's, nor another school's", async () => {
    await enroll('gate-01');
    const base = bridge.httpUrl;
    await makeAccount(base, { username: 'office', role: 'school-admin', school: 'school-1' });
    await makeAccount(base, { username: 'guard', role: 'operator', school: 'school-1' });
    await makeAccount(base, { username: 'guard-2', role: 'operator', school: 'school-2' });
    await makeAccount(base, {
      username: 'teacher',
      role: 'head-teacher',
      school: 'school-1',
      className: '3A',
    });
    const as = async (username: string) => {
      const browser = new Browser(base);
      await browser.login(username);
      return browser;
    };
    const order = (browser: Browser, active: boolean) =>
      browser.request('POST', '/v1/schools/school-1/lockdown', { active, reason: 'drill' });
    expect((await order(await as('teacher'), true)).status).toBe(403);
    expect((await order(await as('guard-2'), true)).status).toBe(403);
    expect((await order(await as('guard'), true)).body).toMatchObject({
      lockdown: { active: true, version: 1 },
    });
    expect((await order(await as('office'), false)).body).toMatchObject({
      lockdown: { active: false, version: 2 },
    });
    // Bad requests and a school with no gate here are refused with what is wrong.
    expect((await asAdmin(base, 'POST', '/v1/schools/school-1/lockdown', { active: 'yes' })).status).toBe(
      400,
    );
    expect(
      (
        await asAdmin(base, 'POST', '/v1/schools/school-1/lockdown', {
          active: true,
          reason: 'x'.repeat(201),
        })
      ).status,
    ).toBe(400);
    const unknown = await asAdmin(base, 'POST', '/v1/schools/school-9/lockdown', { active: true });
    expect(unknown).toMatchObject({ status: 404, body: { error: 'not-found' } });
    // A lockdown is the school's: the one-device command route will not send one.
    const single = await asAdmin(base, 'POST', '/v1/devices/gate-01/commands', {
      name: 'lockdown.set',
      args: { active: true, version: 99 },
    });
    expect(single).toMatchObject({
      status: 400,
      body: { message: expect.stringContaining('/v1/schools/school-1/lockdown') },
    });
  });
});
