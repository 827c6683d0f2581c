import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SAMPLE_MONDAY, sampleCard, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../config/index.js';
import { recordingIoFor } from '../io/index.js';
import { createLogger } from '../log/index.js';
import type { SimulatedReaderDriver } from '../readers/index.js';
import { RosterStore } from '../roster/index.js';
import { Gateway } from './index.js';

const PINS = { relay: 4, greenLed: 5, redLed: 6, buzzer: 7 };
const MONDAY_8AM = SAMPLE_MONDAY;
let dir: string;
let lines: string[];
let gateway: Gateway | undefined;

async function startGateway(debounceMs = 3000) {
  const config = parseConfig({
    device: { id: 'gate-01', school: 'school-1' },
    dataDir: dir,
    station: { id: 'gate-main', zone: 'main-gate', debounceMs },
    readers: { simulated: ['front-in', 'front-out', 'side-door'] },
    io: { pins: PINS },
  });
  const authority = new TestAuthority('school-1', { now: () => MONDAY_8AM });
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  const io = recordingIoFor(config.io);
  const logger = createLogger('gateway', {
    level: 'debug',
    destination: { write: (line: string) => lines.push(line) } as never,
  });
  gateway = await Gateway.start({ config, logger, io, now: () => MONDAY_8AM, synced: () => true });
  await gateway.roster.acceptKeySet(authority.keySet());
  const roster = authority.snapshot(1, [sampleCard(1), sampleCard(2, { status: 'lost' })]);
  await gateway.acceptRoster(roster.manifest, roster.body);
  return { gateway, io, driver: gateway.readers as SimulatedReaderDriver, authority };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gateway-'));
  lines = [];
});
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('roster updates through the gateway', () => {
  it('journals a roster applied, and one rejected with its reason while the one in force stays', async () => {
    const { gateway, authority } = await startGateway();
    const same = authority.snapshot(1, [sampleCard(3)]);
    await expect(gateway.acceptRoster(same.manifest, same.body)).resolves.toEqual({
      status: 'unchanged',
      version: 1,
    });
    const stale = authority.delta(5, 6, []);
    await expect(gateway.acceptRoster(stale.manifest, stale.body)).rejects.toThrow(/out-of-order/);
    await gateway.journal.flush();
    const events = (await gateway.journal.read(1, 100)).filter((r) => r.type.startsWith('roster.'));
    expect(events.map((e) => [e.type, e.data.version ?? String(e.data.reason).split(':')[0]])).toEqual([
      ['roster.applied', 1],
      ['roster.rejected', 'out-of-order'],
    ]);
    expect(gateway.roster.view?.version).toBe(1);
  });
});

describe('a tap through the whole gateway', () => {
  it('grants, pulses the relay, and journals the decision with the reader direction and roster version', async () => {
    const { gateway, io, driver } = await startGateway();
    const mark = io.writes.length;
    driver.present('front-in', { uid: sampleCard(1).credential.uid as string });
    expect(io.writesTo(PINS.relay, mark).map((w) => w.value)).toEqual([1]);
    await gateway.journal.flush();
    const [record] = (await gateway.journal.read(1, 100)).filter((r) => r.type === 'gate.decision');
    expect(record?.data).toMatchObject({
      reader: 'front-in',
      direction: 'in',
      decision: 'grant',
      reason: 'ok',
      cardId: sampleCard(1).cardId,
      personId: sampleCard(1).personId,
      rosterVersion: 1,
    });
    expect(record?.clock).toBe('synced');
  });

  it('denies a lost card with the red LED, and never logs a whole card id', async () => {
    const { gateway, io, driver } = await startGateway();
    const mark = io.writes.length;
    driver.present('front-out', { uid: sampleCard(2).credential.uid as string });
    expect(io.writesTo(PINS.redLed, mark).map((w) => w.value)).toEqual([1]);
    expect(io.writesTo(PINS.relay, mark)).toEqual([]);
    await gateway.journal.flush();
    const tap = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'tap');
    expect(tap).toMatchObject({ decision: 'deny', reason: 'lost', card: '******0002' });
    expect(lines.join('\n')).not.toContain(sampleCard(2).cardId);
    expect(lines.join('\n')).not.toContain(sampleCard(2).credential.uid as string);
  });

  it('takes a card held on the reader, or shown again within the debounce time, as one tap', async () => {
    const { gateway, driver } = await startGateway(200);
    const card = { uid: sampleCard(1).credential.uid as string };
    driver.present('front-in', card);
    driver.present('front-in', card);
    driver.present('front-out', card);
    await sleep(300);
    driver.present('front-in', card);
    await gateway.journal.flush();
    const taps = (await gateway.journal.read(1, 100)).filter((r) => r.type === 'gate.decision');
    expect(taps.map((t) => t.data.reader)).toEqual(['front-in', 'front-out', 'front-in']);
  });

  it('ignores cards on a reader no binding names, with a warning', async () => {
    const { gateway, driver } = await startGateway();
    driver.present('side-door', { uid: sampleCard(1).credential.uid as string });
    await gateway.journal.flush();
    expect((await gateway.journal.read(1, 100)).filter((r) => r.type === 'gate.decision')).toHaveLength(0);
    expect(lines.some((l) => l.includes('reader matches no binding') && l.includes('side-door'))).toBe(true);
  });
});

describe('a book tag at a gate', () => {
  it('is no tap: nothing decided, nothing journaled, the gate stays shut, a log line says why', async () => {
    const { gateway, io, driver } = await startGateway();
    const mark = io.writes.length;
    driver.presentTag('front-in', 'E004010012345678');
    await gateway.journal.flush();
    expect((await gateway.journal.read(1, 100)).filter((r) => r.type === 'gate.decision')).toHaveLength(0);
    expect(io.writesTo(PINS.relay, mark)).toEqual([]);
    const ignored = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith('tagged item ignored'));
    expect(ignored).toMatchObject({ reader: 'front-in', itemId: 'E004010012345678' });
  });
});
