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
} from '@educard/gateway';
import { until } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, admin, enrollDevice, startBridge } from '../support/bridge.js';
import { ROSTER_CSV_HEADER, rosterCsvRow } from '../support/roster-csv.js';

let dir: string;
let bridge: Bridge;
let gateway: Gateway | undefined;

async function importCsv(csv: string, dryRun = false) {
  const response = await fetch(`${bridge.httpUrl}/v1/roster/school-1/import${dryRun ? '?dryRun=true' : ''}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'text/csv' },
    body: csv,
  });
  return { status: response.status, report: (await response.json()) as Record<string, unknown> };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-service-'));
  bridge = await startBridge(join(dir, 'bridge'));
});
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the bridge roster service', () => {
  it('imports a CSV roster, a gateway takes it, and a card reported lost through the API is denied at the next tap', async () => {
    const imported = await importCsv(
      [ROSTER_CSV_HEADER, rosterCsvRow(1), rosterCsvRow(2), rosterCsvRow(3)].join('\n'),
    );
    expect(imported).toMatchObject({ status: 200, report: { ok: true, version: 1, added: 3 } });

    const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
    await mkdir(join(dir, 'gate-01', 'roster'), { recursive: true });
    await RosterStore.writeAnchor(join(dir, 'gate-01', 'roster'), anchor);
    const mqtt = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    const config = parseConfig({
      device: { id: 'gate-01', school: 'school-1' },
      dataDir: join(dir, 'gate-01'),
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'] },
      uplink: { url: mqtt.url, bridgeHttp: bridge.httpUrl, username: mqtt.username, password: mqtt.password },
    });
    gateway = await Gateway.start({
      config,
      logger: createLogger('gateway', { level: 'silent' }),
    });
    const live = gateway;
    await until(() => live.roster.view?.version === 1);
    const reasons: string[] = [];
    live.station.events.on('tap', (outcome) => reasons.push(outcome.decision.reason));
    const driver = live.readers as SimulatedReaderDriver;
    driver.present('sim-in', { uid: sampleCard(2).credential.uid as string });

    expect(await admin(bridge.httpUrl, `/v1/cards/${sampleCard(2).cardId}/lost`, {})).toMatchObject({
      status: 'lost',
      version: 2,
    });
    await until(() => live.roster.view?.version === 2);
    driver.present('sim-in', { uid: sampleCard(2).credential.uid as string });
    expect(reasons).toEqual(['ok', 'lost']);

    // Reissue: the old card cancelled and the new one active, in one delta.
    const next = sampleCard(40, {
      personId: sampleCard(2).personId,
      displayName: 'Pupil 2',
      ...validAround(Date.now()),
    });
    expect(
      await admin(bridge.httpUrl, `/v1/cards/${sampleCard(2).cardId}/reissue`, { card: next }),
    ).toMatchObject({ version: 3 });
    await until(() => live.roster.view?.version === 3);
    expect(live.roster.view?.byCardId(sampleCard(2).cardId)?.status).toBe('cancelled');
    expect(live.roster.view?.byCardId(next.cardId)?.status).toBe('active');
  });

  it('reports every bad row of a CSV and changes nothing', async () => {
    await importCsv([ROSTER_CSV_HEADER, rosterCsvRow(1), rosterCsvRow(2)].join('\n'));
    const bad = [
      ROSTER_CSV_HEADER,
      rosterCsvRow(1),
      rosterCsvRow(2, { person_id: '' }),
      rosterCsvRow(1, { uid: 'AABBCCDD' }),
      rosterCsvRow(4, { school: 'school-9' }),
      rosterCsvRow(5, { valid_until: '2027-13-45' }),
      rosterCsvRow(6, { uid: sampleCard(1).credential.uid as string }),
    ].join('\n');
    const { status, report } = await importCsv(bad);
    expect(status).toBe(422);
    expect(report.ok).toBe(false);
    const problems = report.problems as { line: number; problem: string }[];
    expect(problems.map((p) => p.line)).toEqual([3, 4, 5, 6, 7]);
    expect(problems.find((p) => p.line === 4)?.problem).toMatch(/card id repeats line 2/);
    expect(problems.find((p) => p.line === 5)?.problem).toMatch(/school school-9 is not school-1/);
    expect(problems.find((p) => p.line === 7)?.problem).toMatch(/UID .* is also card/);
    expect(bridge.store.latestRosterVersion('school-1')?.version).toBe(1);
    expect(bridge.store.rosterCards('school-1').every((c) => c.personId)).toBe(true);
  });

  it('takes a 20 MB CSV with one bad row: reports it and changes nothing', async () => {
    const lines = [ROSTER_CSV_HEADER];
    for (let n = 1; n <= 140_000; n++) lines.push(rosterCsvRow(n));
    lines.push(rosterCsvRow(1));
    const csv = lines.join('\n');
    expect(csv.length).toBeGreaterThan(20_000_000);
    const { status, report } = await importCsv(csv);
    expect(status).toBe(422);
    expect(report.problems).toEqual([
      expect.objectContaining({ line: lines.length, problem: expect.stringMatching(/repeats line 2/) }),
    ]);
    expect(bridge.store.latestRosterVersion('school-1')).toBeUndefined();
  }, 60_000);
});
