import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, admin, startBridge } from '../support/bridge.js';
import { scrape } from '../support/metrics.js';

/**
 * What the bridge keeps of its own operations goes at the retention purge too: a cleared alarm after
 * `retention.alarmDays` (a year), an enrollment token once it is used or expired. On a clock set from
 * the real one.
 */

const DAY = 86_400_000;
const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
const START = Date.now();
let clock = START;
let dir: string;
let bridge: Bridge;

const at = (ms: number) => new Date(ms).toISOString();
const listed = async () =>
  ((await admin(bridge.httpUrl, '/v1/ops/alarms?school=school-1')).alarms as { id: number; open: boolean }[])
    .map((alarm) => `${alarm.id}${alarm.open ? ' open' : ''}`)
    .sort();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'record-retention-'));
  bridge = await startBridge(dir, { metrics: { token: METRICS_TOKEN } }, { now: () => new Date(clock) });
});
afterAll(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

it('forgets a cleared alarm after a year and spent enrollment tokens at once; keeps what is still live', async () => {
  const cleared = bridge.ops.raise({ kind: 'door.forced', school: 'school-1', message: 'forced' });
  await admin(bridge.httpUrl, `/v1/ops/alarms/${cleared.id}/clear`, {});
  const open = bridge.ops.raise({ kind: 'door.held-open', school: 'school-1', message: 'held open' });
  const [used, lapsing, live] = [
    ...bridge.store.createTokens('school-1', 2, at(START + DAY)),
    ...bridge.store.createTokens('school-1', 1, at(START + 400 * DAY)),
  ] as [string, string, string];
  const enrolling = { id: 'gate-01', publicKey: 'k'.repeat(43), secretHash: 'h'.repeat(64) };
  expect(bridge.store.enrollDevice(used, enrolling, at(START))).toMatchObject({ ok: true });
  expect(await listed()).toEqual([`${cleared.id}`, `${open.id} open`].sort());

  clock = START + 2 * DAY;
  const early = await bridge.retention.runOnce();
  expect(early).toMatchObject({ alarmsForgotten: 0, tokensForgotten: 2 });
  expect(bridge.store.tokenGrant(lapsing, at(START))).toBeUndefined();
  expect(bridge.store.tokenGrant(live, at(clock))).toEqual({ school: 'school-1' });

  clock = START + 364 * DAY;
  expect((await bridge.retention.runOnce()).alarmsForgotten).toBe(0);
  clock = START + 366 * DAY;
  expect((await bridge.retention.runOnce()).alarmsForgotten).toBe(1);
  expect(await listed()).toEqual([`${open.id} open`]);
  const forgotten = await fetch(`${bridge.httpUrl}/v1/ops/alarms/${cleared.id}/clear`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(forgotten.status).toBe(404);
  // Counted by kind, beside the events (none here).
  const metrics = await scrape(`${bridge.httpUrl}/metrics`, METRICS_TOKEN);
  const forgottenOf = (what: string) => metrics.value('educard_bridge_retention_forgotten_total', { what });
  expect(['alarms', 'tokens', 'loans'].map(forgottenOf)).toEqual([1, 2, 0]);
  expect(metrics.value('educard_bridge_retention_runs_total')).toBe(3);
});
