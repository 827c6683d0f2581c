import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Attendance } from '../attendance/index.js';
import { Directory } from '../directory/index.js';
import { type BridgeStore, migrateModule } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { LOCKDOWN_STEPS, Lockdowns } from './service.js';

// Runs on SQLite and on PostgreSQL (vitest.config.ts). The lockdown's orders go out over MQTT, tested
// in test/ops/lockdown.test.ts; here the gates' own switches as the bridge learns them from events.
let dir: string;
let store: BridgeStore;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 23, 1, minute)).toISOString();
const where = { station: 'gate-main', zone: 'main-gate' };

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockdown-'));
  store = openTestStore(join(dir, 'bridge.db'));
  const tokens = store.createTokens('school-1', 3, '2027-01-01T00:00:00.000Z');
  for (const [n, id] of ['gate-1', 'gate-2', 'gate-3'].entries())
    store.enrollDevice(
      tokens[n] as string,
      { id, publicKey: 'k', secretHash: 'h' },
      '2026-11-01T00:00:00.000Z',
    );
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

function lockdowns(): Lockdowns {
  const attendance = new Attendance({
    store,
    directory: new Directory(store.database),
    defaultTimeZone: 'Asia/Shanghai',
  });
  const unused = () => {
    throw new Error('no order is given here');
  };
  return new Lockdowns({
    store,
    commands: { send: unused, sign: unused },
    alarms: { raise: unused, clear: unused },
    turnedAwaySince: attendance.turnedAwaySince,
    logger: pino({ level: 'silent' }),
    now: () => new Date(at(30)),
  });
}

/** A gate's events, chained on from what it sent before, committed as ingest would. */
function send(device: string, events: [type: string, at: string, data: Record<string, unknown>][]): void {
  const records = chainRecords(
    device,
    events.map(([type, at, data]) => ({ type, at, data })),
    store.cursor(device),
  );
  store.commitRecords(device, 'school-1', records);
}

const switched = (view: ReturnType<Lockdowns['status']>) =>
  Object.fromEntries(view.gates.map((gate) => [gate.device, gate.switchSince ?? null]));

it('a gate’s own switch is on from its lockdown event to its lifting; an order the gate applied is not a switch', () => {
  const service = lockdowns();
  send('gate-1', [['gate.lockdown', at(1), where]]);
  send('gate-2', [
    ['gate.lockdown', at(2), { ...where, source: 'switch' }],
    ['gate.lockdown-lifted', at(3), { ...where, source: 'switch', lockedForMs: 60_000 }],
  ]);
  send('gate-3', [['gate.lockdown', at(4), { ...where, source: 'bridge', version: 1 }]]);
  expect(switched(service.status('school-1'))).toEqual({ 'gate-1': at(1), 'gate-2': null, 'gate-3': null });
  // A switch on is the school in lockdown, as an order is (what holds the parents' library reminders).
  expect(service.lockedDown('school-1')).toBe(true);
  send('gate-1', [['gate.lockdown-lifted', at(5), { ...where, source: 'switch', lockedForMs: 60_000 }]]);
  expect(service.lockedDown('school-1')).toBe(false);
});

it('a store from before the switches were kept finds the ones on in the events it holds', () => {
  migrateModule(store.database, 'lockdown', {
    sqlite: LOCKDOWN_STEPS.sqlite.slice(0, 1),
    postgres: LOCKDOWN_STEPS.postgres.slice(0, 1),
  });
  send('gate-1', [
    ['gate.lockdown', at(1), where],
    ['gate.lockdown-lifted', at(2), { ...where, lockedForMs: 60_000 }],
    ['gate.lockdown', at(5), where],
    ['gate.lockdown', at(6), { ...where, source: 'bridge', version: 1 }],
  ]);
  send('gate-2', [
    ['gate.lockdown', at(2), where],
    ['gate.lockdown-lifted', at(3), { ...where, lockedForMs: 60_000 }],
  ]);
  expect(switched(lockdowns().status('school-1'))).toEqual({
    'gate-1': at(5),
    'gate-2': null,
    'gate-3': null,
  });
});
