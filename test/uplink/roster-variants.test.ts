import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { asJournaled } from '@educard/cloud-bridge';
import { type Gateway, RosterStore, type SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { type CardEntry, eventHash, type KeyRole, topics } from '@educard/terminal-sdk';
import { sampleCard, sampleCpuCard, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admin, enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

let dir: string;
let bridge: Bridge;
const gateways: Gateway[] = [];

/** On the real clock: every card valid around today, whatever year the test runs in. */
const card = (n: number, overrides: Partial<CardEntry> = {}) =>
  sampleCard(n, { ...validAround(Date.now()), schedules: [], ...overrides });
const CARDS = [card(1), card(2), { ...sampleCpuCard(3), ...validAround(Date.now()), schedules: [] }, card(4)];
const JOINED = card(5, { displayName: '李小红' });

async function station(id: string, station?: Record<string, unknown>): Promise<Gateway> {
  const dataDir = join(dir, id);
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const mqtt = await enrollDevice(bridge.httpUrl, dataDir, id);
  const gateway = await startUplinkGateway(dataDir, id, mqtt, bridge.httpUrl, {}, station ? { station } : {});
  gateways.push(gateway);
  return gateway;
}

/** Every file a gateway keeps, as one text: roster, journal, config, state. */
async function filesOf(root: string): Promise<string> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const files = entries.filter((entry) => entry.isFile());
  const texts = await Promise.all(
    files.map((entry) => readFile(join(entry.parentPath, entry.name), 'latin1')),
  );
  return texts.join('\n');
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-variants-'));
  // A leaver's data is anonymised at the first purge after they left: the test runs it itself.
  bridge = await startBridge(join(dir, 'bridge'), { retention: { leaverDays: 0 } });
});
afterEach(async () => {
  for (const gateway of gateways.splice(0)) await gateway.stop();
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

/** CARDS imported, then a gate and a library desk enrolled, each holding roster version 1. */
async function gateAndDesk(): Promise<{ gate: Gateway; desk: Gateway }> {
  await admin(bridge.httpUrl, '/v1/roster/school-1/import', { cards: CARDS });
  const gate = await station('gate-01');
  const desk = await station('desk-01', { type: 'library', id: 'library-1', zone: 'library', debounceMs: 0 });
  await until(() => gate.roster.view?.version === 1 && desk.roster.view?.version === 1);
  return { gate, desk };
}

describe('rosters per station type, through the bridge', () => {
  it('a gate holds no pupil name and no UID in clear after enrollment and an update, yet admits by UID; a desk gets the names', async () => {
    const { gate, desk } = await gateAndDesk();

    await admin(bridge.httpUrl, '/v1/roster/school-1/import', { cards: [...CARDS, JOINED] });
    expect(await admin(bridge.httpUrl, `/v1/cards/${card(2).cardId}/lost`, {})).toMatchObject({ version: 3 });
    await until(() => gate.roster.view?.version === 3 && desk.roster.view?.version === 3);

    const reasons: string[] = [];
    gate.station.events.on('tap', (outcome) => reasons.push(outcome.decision.reason));
    const reader = gate.readers as SimulatedReaderDriver;
    for (const n of [5, 2]) reader.present('sim-in', { uid: card(n).credential.uid as string });
    await until(() => reasons.length === 2);
    expect(reasons).toEqual(['ok', 'lost']);
    await gate.journal.flush();

    const onGate = await filesOf(join(dir, 'gate-01'));
    for (const held of [...CARDS, JOINED]) {
      // Nor the person id: the gate's roster and journal name persons by pseudonym only.
      expect(onGate).not.toContain(held.personId);
      expect(onGate).not.toContain(held.displayName as string);
      expect(onGate).not.toContain(Buffer.from(held.displayName as string, 'utf8').toString('latin1'));
      expect(onGate.toUpperCase()).not.toContain(held.credential.uid as string);
    }
    expect(gate.roster.view?.byCardId(JOINED.cardId)?.personId).toMatch(/^psn-/);
    // The bridge maps the pseudonyms back as it stores the taps: the events name the person, and the
    // record as the gate journaled it is still there to check its chain.
    const taps = () => bridge.store.queryEvents({ type: 'gate.decision', limit: 10 });
    await until(() => taps().length === 2);
    expect(taps().map((event) => [event.record.data.cardId, event.record.data.personId])).toEqual(
      expect.arrayContaining([
        [card(2).cardId, card(2).personId],
        [JOINED.cardId, JOINED.personId],
      ]),
    );
    const granted = taps().find((event) => event.record.data.cardId === JOINED.cardId)?.record;
    expect(granted && eventHash(asJournaled(granted))).toBe(granted?.hash);
    expect(bridge.store.queryEvents({ personId: JOINED.personId, limit: 10 })).toHaveLength(1);
    expect(gate.roster.view?.byCardId(JOINED.cardId)?.displayName).toBeUndefined();
    expect(desk.roster.view?.byCardId(JOINED.cardId)?.displayName).toBe('李小红');
    expect(await filesOf(join(dir, 'desk-01'))).toContain(card(1).displayName as string);
  });

  it("a gate refuses the bridge's desk roster, and the roster in force stays", async () => {
    await admin(bridge.httpUrl, '/v1/roster/school-1/import', { cards: CARDS });
    const gate = await station('gate-01');
    await until(() => gate.roster.view?.version === 1);
    const deskSnapshot = new Promise<string>((resolve) => {
      bridge.client.on('message', (topic, payload) => {
        if (topic === topics.rosterSnapshot('school-1')) resolve(payload.toString());
      });
    });
    await bridge.client.subscribeAsync(topics.rosterSnapshot('school-1'), { qos: 1 });
    const desk = JSON.parse(await deskSnapshot) as { manifest: { signed: { variant?: string } } };
    expect(desk.manifest.signed.variant).toBe('desk');
    await expect(
      gate.roster.accept(Buffer.from(JSON.stringify(desk.manifest)), new Uint8Array()),
    ).rejects.toThrow(/^wrong-variant: manifest is the desk roster/);
    expect(gate.roster.view?.version).toBe(1);
    expect(gate.roster.view?.byCardId(card(1).cardId)?.displayName).toBeUndefined();
  });

  it("a leaver's card is denied as cancelled, then, once they are anonymised, gone from the gate's and the desk's rosters and denied as unknown", async () => {
    const { gate, desk } = await gateAndDesk();
    const leaver = card(1);
    const reasons: string[] = [];
    gate.station.events.on('tap', (outcome) => reasons.push(outcome.decision.reason));
    const tap = async (expected: number) => {
      (gate.readers as SimulatedReaderDriver).present('sim-in', { uid: leaver.credential.uid as string });
      await until(() => reasons.length === expected);
    };

    expect(await admin(bridge.httpUrl, `/v1/people/${leaver.personId}/remove`, {})).toMatchObject({
      versions: [2],
    });
    await until(() => gate.roster.view?.version === 2 && desk.roster.view?.version === 2);
    expect(desk.roster.view?.byCardId(leaver.cardId)).toMatchObject({
      status: 'cancelled',
      personId: leaver.personId,
      displayName: leaver.displayName,
    });
    await tap(1);

    expect((await bridge.retention.runOnce()).anonymised).toBe(1);
    // One snapshot, no delta: every gateway, of any version, takes it whole.
    const latest = bridge.store.latestRosterVersion('school-1');
    expect([latest?.version, latest?.deltaManifest]).toEqual([3, undefined]);
    await until(() => gate.roster.view?.version === 3 && desk.roster.view?.version === 3);
    for (const view of [gate.roster.view, desk.roster.view]) {
      expect(view?.byCardId(leaver.cardId)).toBeUndefined();
      expect(view?.byCardId(card(2).cardId)).toBeDefined();
    }
    await tap(2);
    expect(reasons).toEqual(['cancelled', 'unknown-card']);
    // Nor does the bridge keep a roster version that still names them.
    expect(bridge.store.rosterVersion('school-1', 2)).toBeUndefined();
    expect(bridge.store.personCards(leaver.personId)).toEqual([]);
  });
});
