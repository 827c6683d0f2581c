import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge, CardView, DeviceHealth } from '@educard/cloud-bridge';
import { type Gateway, RosterStore, type SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asAdmin, Browser, makeAccount, startClockedBridge, TestClock } from '../support/accounts.js';
import { enrollDevice, startUplinkGateway } from '../support/bridge.js';
import { readEvents } from '../support/event-stream.js';

let dir: string;
let bridge: Bridge;
const gateways = new Map<string, Gateway>();
const credentials = new Map<string, { url: string; username: string; password: string }>();

async function startGate(id: string): Promise<Gateway> {
  const dataDir = join(dir, id);
  if (!credentials.has(id)) {
    const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
    await mkdir(join(dataDir, 'roster'), { recursive: true });
    await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
    credentials.set(id, await enrollDevice(bridge.httpUrl, dataDir, id));
  }
  const gateway = await startUplinkGateway(dataDir, id, credentials.get(id) as never, bridge.httpUrl);
  gateways.set(id, gateway);
  return gateway;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-propagation-'));
  bridge = await startClockedBridge(join(dir, 'bridge'), new TestClock(Date.now()));
  credentials.clear();
});
afterEach(async () => {
  for (const gateway of gateways.values()) await gateway.stop();
  gateways.clear();
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('alarms over the API', () => {
  it('lists a school its alarms; an operator acknowledges and clears them, audited; others are refused', async () => {
    const base = bridge.httpUrl;
    bridge.ops.raise({
      kind: 'door.forced',
      message: 'door forced open at gate-main',
      school: 'school-1',
      device: 'gate-01',
    });
    bridge.ops.raise({
      kind: 'door.forced',
      message: 'door forced open at gate-main',
      school: 'school-2',
      device: 'gate-09',
    });
    bridge.ops.onAlarm({ kind: 'central.unreachable', message: 'no answer for 20 minutes', count: 1 });
    await makeAccount(base, { username: 'op-1', role: 'operator', school: 'school-1' });
    await makeAccount(base, {
      username: 'teacher',
      role: 'head-teacher',
      school: 'school-1',
      className: '3A',
    });
    const operator = new Browser(base);
    await operator.login('op-1');
    const listed = (await operator.request('GET', '/v1/ops/alarms?open=true')).body.alarms as {
      id: number;
      device?: string;
    }[];
    expect(listed.map((a) => a.device)).toEqual(['gate-01']);
    const id = listed[0]?.id as number;
    const acked = await operator.request('POST', `/v1/ops/alarms/${id}/ack`, {});
    expect(acked.body).toMatchObject({ alarm: { open: true, acknowledgedBy: 'op-1' } });
    expect((await operator.request('POST', `/v1/ops/alarms/${id}/clear`, {})).body).toMatchObject({
      alarm: { open: false, clearedBy: 'op-1' },
    });
    const all = (await asAdmin(base, 'GET', '/v1/ops/alarms?open=true')).body.alarms as { kind: string }[];
    expect(all.map((a) => a.kind).sort()).toEqual(['central.unreachable', 'door.forced']);
    const other = all.find((a) => a.kind === 'door.forced') as unknown as { id: number };
    expect((await operator.request('POST', `/v1/ops/alarms/${other.id}/ack`, {})).status).toBe(403);
    expect((await operator.request('GET', '/v1/ops/alarms?school=school-2')).status).toBe(403);
    const teacher = new Browser(base);
    await teacher.login('teacher');
    expect((await teacher.request('GET', '/v1/ops/alarms')).status).toBe(403);
    expect((await teacher.request('GET', '/v1/ops/stream')).status).toBe(403);
    const audit = (await asAdmin(base, 'GET', '/v1/audit?actor=op-1')).body.entries as {
      action: string;
      outcome: string;
    }[];
    expect(audit.map((e) => `${e.action} ${e.outcome}`)).toEqual([
      'devices.read denied',
      'alarms.ack denied',
      'alarms.clear ok',
      'alarms.ack ok',
      'session.login ok',
    ]);
  });
});

describe('operations over a real bridge and real gateways', () => {
  it('streams a tap masked, and shows a card reported lost reaching each gate', async () => {
    const base = bridge.httpUrl;
    const imported = await asAdmin(base, 'POST', '/v1/roster/school-1/import', {
      cards: [
        sampleCard(1, { displayName: 'Pupil 1', ...validAround(Date.now()) }),
        sampleCard(2, { displayName: 'Pupil 2', ...validAround(Date.now()) }),
      ],
    });
    expect(imported.status).toBe(200);
    const gate1 = await startGate('gate-01');
    const gate2 = await startGate('gate-02');
    await until(() => gate1.roster.view?.version === 1 && gate2.roster.view?.version === 1);
    // Everything the gates journaled so far (their starts, the roster applied) is at the bridge, so the
    // stream below begins with the tap.
    await until(
      () =>
        [gate1, gate2].every(
          (gate) => bridge.store.cursor(gate.config.device.id).seq === gate.journal.stats().lastSeq,
        ),
      { what: 'the gates journals delivered' },
    );

    await makeAccount(base, { username: 'op-1', role: 'operator', school: 'school-1' });
    const operator = new Browser(base);
    await operator.login('op-1');

    // The live stream: a tap at gate-01 arrives summarised, the card number masked.
    const stream = await fetch(`${base}/v1/ops/stream`, { headers: { cookie: operator.cookie as string } });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const arriving = readEvents(stream.body as ReadableStream<Uint8Array>, 1);
    const card = sampleCard(2);
    (gate1.readers as SimulatedReaderDriver).present('sim-in', { uid: card.credential.uid as string });
    const [tap] = await arriving;
    expect(tap).toMatchObject({
      school: 'school-1',
      device: 'gate-01',
      type: 'gate.decision',
      card: `******${card.cardId.slice(-4)}`,
      name: 'Pupil 2',
    });
    expect(tap?.decision).toMatch(/^(grant|deny)$/);
    expect(JSON.stringify(tap)).not.toContain(card.cardId);
    const recent = await operator.request('GET', '/v1/ops/events/recent?limit=5');
    expect((recent.body.events as { type: string }[]).some((e) => e.type === 'gate.decision')).toBe(true);

    // gate-02 is away when the card is reported lost: the operator sees gate-01 take it, then gate-02.
    await gate2.stop();
    gateways.delete('gate-02');
    const lost = await operator.request('POST', `/v1/cards/${card.cardId}/lost`, {});
    expect(lost.body).toMatchObject({ status: 'lost', version: 2 });
    const view = (path: string) => operator.request('GET', path).then((answer) => answer.body);
    const partly = (await until(async () => {
      const body = (await view(`/v1/ops/cards/${card.cardId}`)) as unknown as CardView;
      return body.propagation?.gates.find((g) => g.device === 'gate-01')?.appliedAt ? body : undefined;
    })) as CardView;
    expect(partly).toMatchObject({
      cardId: card.cardId,
      personId: card.personId,
      name: 'Pupil 2',
      school: 'school-1',
      status: 'lost',
      changes: [{ status: 'lost', version: 2, actor: 'op-1' }],
      propagation: { version: 2 },
    });
    expect(partly.propagation?.gates.find((g) => g.device === 'gate-02')).toMatchObject({
      applied: false,
      rosterVersion: 1,
    });

    await startGate('gate-02');
    const all = (await until(async () => {
      const body = (await view(`/v1/ops/cards/${card.cardId}`)) as unknown as CardView;
      return body.propagation?.gates.every((g) => g.appliedAt) ? body : undefined;
    })) as CardView;
    expect(all.propagation?.gates.map((g) => [g.device, g.applied, g.rosterVersion])).toEqual([
      ['gate-01', true, 2],
      ['gate-02', true, 2],
    ]);

    const health = (await view('/v1/ops/devices')).devices as DeviceHealth[];
    expect(health.map((d) => [d.id, d.online, d.rosterVersion, d.latestRosterVersion, d.revoked])).toEqual([
      ['gate-01', true, 2, 2, false],
      ['gate-02', true, 2, 2, false],
    ]);
    expect(Date.parse(health[0]?.rosterExpiresAt as string)).toBeGreaterThan(Date.now());
    const audit = await asAdmin(base, 'GET', '/v1/audit?action=cards.status');
    expect(audit.body.entries).toMatchObject([
      {
        actor: 'op-1',
        role: 'operator',
        school: 'school-1',
        outcome: 'ok',
        detail: { status: 'lost', version: 2 },
      },
    ]);
  });
});
