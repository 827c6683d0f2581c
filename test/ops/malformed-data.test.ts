import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { until } from '@educard/scripts/support';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admin, startBridge } from '../support/bridge.js';
import { deviceSender } from '../support/central-server.js';

/**
 * A device whose events carry data of the wrong shape for their type (a faulty build, or a stolen
 * key): what it journaled is kept, since it is in its signed chain, but no projection reads it, and
 * its later events go on as usual.
 */

let dir: string;
let bridge: Bridge | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'malformed-data-'));
});
afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('events whose data does not match their type', () => {
  it('are stored and logged but not interpreted, and the events after them still are', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    bridge = await startBridge(join(dir, 'bridge'), {}, { logger });
    const sender = await deviceSender(bridge, dir, 'gate-01');
    const at = new Date().toISOString();
    // Objects where the schema has text and numbers: a string conversion of them throws.
    const hostile = { toString: '' };
    await sender.send(
      chainRecords('gate-01', [
        { type: 'door.forced', at, data: { station: hostile, zone: 'main-gate', openForMs: hostile } },
        { type: 'gate.decision', at, data: { ...gateDecisionData({ personId: 'p1' }), decision: hostile } },
        { type: 'door.forced', at, data: { station: 'gate-main', zone: 'main-gate', openForMs: 0 } },
        { type: 'gate.decision', at, data: gateDecisionData({ personId: 'p2' }) },
      ]),
      4,
    );
    await until(() => (bridge as Bridge).store.countEvents() === 4);
    expect(bridge.ingest.stats).toMatchObject({ stored: 4, uninterpreted: 2, rejected: 0 });
    expect(
      lines
        .filter((l) => l.msg === 'event data does not match its type: stored and forwarded, not interpreted')
        .map((l) => [l.device, l.seq, l.type]),
    ).toEqual([
      ['gate-01', 1, 'door.forced'],
      ['gate-01', 2, 'gate.decision'],
    ]);

    // One door alarm, raised by the well-formed record; one passage, the well-formed entry's.
    const alarms = (await admin(bridge.httpUrl, '/v1/ops/alarms?school=school-1')).alarms as {
      kind: string;
      message: string;
      count: number;
    }[];
    expect(alarms.filter((a) => a.kind === 'door.forced')).toMatchObject([
      { message: 'door forced open at gate-main', count: 1 },
    ]);
    expect(bridge.store.database.prepare('SELECT person_id FROM gate_passages').pluck().all()).toEqual([
      'p2',
    ]);

    // The operations page still lists all four, the malformed decision without a decision.
    const response = await fetch(`${bridge.httpUrl}/v1/ops/events/recent?school=school-1&limit=10`, {
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(response.status).toBe(200);
    const { events } = (await response.json()) as { events: { type: string; decision?: string }[] };
    expect(events.map((e) => [e.type, e.decision])).toEqual([
      ['gate.decision', 'grant'],
      ['door.forced', undefined],
      ['gate.decision', undefined],
      ['door.forced', undefined],
    ]);
    await sender.close();
  });
});
