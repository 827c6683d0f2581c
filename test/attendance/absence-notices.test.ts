import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AttendanceDay, type Bridge, zonedInstant } from '@educard/cloud-bridge';
import { until } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, admin, enrollStoreGate, startBridge } from '../support/bridge.js';
import { commitTaps } from '../support/gate-passages.js';
import { lastWeeksMonday, schoolWithPupils } from '../support/school-day.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * Absence notices through a real bridge to a real receiver, on a set clock: Monday of last week (a
 * school day whatever day the suite runs), the school's cut-off at 09:00 and dismissal at 16:00. The
 * clock stands still unless the test moves it: notices go out at once (no batch window).
 */

const SCHOOL = 'school-1';
const ZONE = 'Asia/Shanghai';
const SECRET = 'absence-notices-secret-0123456789abcdef';
const MONDAY = lastWeeksMonday(ZONE);
const at = (clock: string) => zonedInstant(MONDAY, clock, ZONE);

let dir: string;
let bridge: Bridge;
let receiver: WebhookReceiver;
let clock = at('08:00');

const start = () =>
  startBridge(
    dir,
    {
      notices: {
        tickMs: 25,
        webhooks: [{ school: SCHOOL, url: receiver.url, secret: SECRET, absence: true, batchWindowMs: 0 }],
      },
    },
    { now: () => new Date(clock) },
  );

const status = async () => {
  const response = await fetch(`${bridge.httpUrl}/v1/notices/status`, {
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const body = (await response.json()) as { webhooks: { pending: number; absenceHeld: unknown[] }[] };
  return body.webhooks[0];
};
/** A few rounds of the notices' timer, for what must not happen. */
const rounds = () => new Promise((resolve) => setTimeout(resolve, 300));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'absence-notices-'));
  receiver = await WebhookReceiver.start(SECRET, () => clock);
  bridge = await start();
  schoolWithPupils(bridge.directory, SCHOOL, ['p1', 'p2', 'p3']);
  enrollStoreGate(bridge, 'gate-1', SCHOOL, at('06:00'));
  commitTaps(bridge, 'gate-1', SCHOOL, [
    { personId: 'p1', at: new Date(at('07:50')).toISOString(), direction: 'in' },
    { personId: 'p2', at: new Date(at('08:10')).toISOString(), direction: 'in', decision: 'deny' },
  ]);
});
afterAll(async () => {
  await bridge.stop();
  await receiver.down();
  await rm(dir, { recursive: true, force: true });
});

describe('absence notices', () => {
  it('go signed to the school’s receiver after the cut-off, once, through a restart', async () => {
    await rounds();
    expect(receiver.absences).toEqual([]);

    clock = at('09:01');
    await until(() => receiver.absences.length === 2, { what: 'the absence notices' });
    expect(receiver.badSignatures).toBe(0);
    expect(receiver.absences.map((n) => [n.personId, n.turnedAwayReason ?? null]).sort()).toEqual([
      ['p2', 'lost'],
      ['p3', null],
    ]);
    expect(receiver.absences.find((n) => n.personId === 'p3')).toEqual({
      id: `a${MONDAY}:p3`,
      kind: 'absent',
      school: SCHOOL,
      personId: 'p3',
      studentNumber: 'G-p3',
      name: '学生p3',
      class: '3-1',
      date: MONDAY,
      cutoffAt: new Date(at('09:00')).toISOString(),
    });
    // The passage of p1 went as a notice of its own kind.
    expect(receiver.notices.map((n) => `${n.personId} ${n.direction}`)).toEqual(['p1 in']);
    await until(async () => (await status())?.pending === 0, { what: 'nothing pending' });
    expect((await status())?.absenceHeld).toEqual([]);
    // The register says beside each absent pupil that the parents were told, and when.
    const day = (await admin(
      bridge.httpUrl,
      `/v1/attendance/${SCHOOL}/days/${MONDAY}`,
    )) as unknown as AttendanceDay;
    const told = Object.fromEntries(day.classes[0]?.pupils.map((p) => [p.personId, p.parentNotice]) ?? []);
    expect(told).toEqual({
      p1: undefined,
      p2: { state: 'delivered', at: new Date(at('09:01')).toISOString() },
      p3: { state: 'delivered', at: new Date(at('09:01')).toISOString() },
    });
    expect(day.parentNoticesHeldBy).toBeUndefined();

    await bridge.stop();
    clock = at('09:30');
    bridge = await start();
    await rounds();
    await until(async () => (await status())?.pending === 0, { what: 'nothing pending' });
    expect(receiver.absences).toHaveLength(2);
  });
});
