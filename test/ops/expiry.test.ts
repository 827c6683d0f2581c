import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Alarm, Bridge, ExpiryView } from '@educard/cloud-bridge';
import { RosterStore } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import type { Calendar, KeyRole } from '@educard/terminal-sdk';
import { sampleCalendar, sampleCard, schoolYearOf, validAround } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asAdmin, startClockedBridge, TestClock } from '../support/accounts.js';
import { enrollDevice, startUplinkGateway } from '../support/bridge.js';

/**
 * A real bridge over HTTP says what the date will break before it does: a calendar with no day off in
 * the school year under way, and a roster near its expiry while a gate holds an older one. The bridge's
 * clock starts at the real time and is moved by the test; every date is derived from it.
 */

const DAY_MINUTES = 24 * 60;
const clock = new TestClock(Date.now());
const cards = [
  sampleCard(1, validAround(clock.now().getTime())),
  sampleCard(2, validAround(clock.now().getTime())),
];
let dir: string;
let bridge: Bridge;

const alarms = async (kind: string) =>
  ((await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/alarms?school=school-1&open=true')).body.alarms as Alarm[])
    .filter((a) => a.kind === kind)
    .map((a) => `${a.school} x${a.count}: ${a.message}`);
const expiry = async () =>
  (await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/expiry?school=school-1')).body as unknown as ExpiryView;
const importRoster = async (calendar: Calendar) =>
  (await asAdmin(bridge.httpUrl, 'POST', '/v1/roster/school-1/import', { cards, calendar })).body;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-expiry-'));
  // Checked every second on the real timer: whether a day has passed is the bridge clock's to say.
  bridge = await startClockedBridge(join(dir, 'bridge'), clock, { ops: { checkEverySeconds: 1 } });
});
afterAll(async () => {
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('dates the product depends on, over the API', () => {
  it('raises calendar.empty and roster.expiring before they bite, lists what expires, and clears both with a new roster', async () => {
    const started = clock.now().getTime();
    const year = schoolYearOf(started);
    expect(
      await importRoster({ timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] }),
    ).toMatchObject({ ok: true, version: 1 });
    // Raised as the roster is published, not at the next daily check.
    expect(await alarms('calendar.empty')).toEqual([
      `school-1 x1: no holidays or closures entered for the school year ${year.first} to ${year.last}`,
    ]);
    const first = await expiry();
    const v1ExpiresAt = new Date(started + 7 * 86_400_000).toISOString();
    expect(first).toEqual({
      at: new Date(started).toISOString(),
      warningDays: 14,
      rosters: [
        {
          school: 'school-1',
          version: 1,
          issuedAt: new Date(started).toISOString(),
          expiresAt: v1ExpiresAt,
          warnFrom: new Date(started + 4.5 * 86_400_000).toISOString(),
          expiring: false,
          expired: false,
          olderHeld: [],
        },
      ],
      calendars: [
        { school: 'school-1', timeZone: 'Asia/Shanghai', schoolYear: year, holidays: 0, closures: 0 },
      ],
      keySet: { version: 1, issuedAt: new Date(started).toISOString(), ageDays: 0 },
    });

    // A gate takes version 1, then is switched off.
    const gateDir = join(dir, 'gate-01');
    const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
    await mkdir(join(gateDir, 'roster'), { recursive: true });
    await RosterStore.writeAnchor(join(gateDir, 'roster'), anchor);
    const gate = await startUplinkGateway(
      gateDir,
      'gate-01',
      await enrollDevice(bridge.httpUrl, gateDir, 'gate-01'),
      bridge.httpUrl,
    );
    await until(() => bridge.ops.devices('school-1')[0]?.rosterVersion === 1, {
      what: 'gate-01 to report roster 1',
    });
    await gate.stop();

    // Six days on, the renewal not having run (its check is hourly, on the real timer): a day past
    // the renewal's due time, the operations timer's next check finds it.
    clock.advanceMinutes(6 * DAY_MINUTES);
    await until(async () => (await alarms('roster.expiring')).length > 0, { what: 'roster.expiring' });
    expect(await alarms('roster.expiring')).toEqual([
      `school-1 x1: roster 1 expires at ${v1ExpiresAt} unless a newer version is published`,
    ]);
    expect((await expiry()).rosters[0]).toMatchObject({ version: 1, expiring: true, expired: false });

    // The school enters its holidays: version 2 clears both at once; the gate still holds version 1.
    const now = clock.now().getTime();
    expect(await importRoster(sampleCalendar(now))).toMatchObject({ ok: true, version: 2 });
    expect(await alarms('calendar.empty')).toEqual([]);
    expect(await alarms('roster.expiring')).toEqual([]);
    const after = await expiry();
    expect(after.rosters).toEqual([
      expect.objectContaining({
        version: 2,
        expiresAt: new Date(now + 7 * 86_400_000).toISOString(),
        expiring: false,
        olderHeld: [{ device: 'gate-01', version: 1, expiresAt: v1ExpiresAt }],
      }),
    ]);
    expect(after.calendars[0]).toMatchObject({ schoolYear: schoolYearOf(now), holidays: 3 });
    expect(after.keySet).toMatchObject({ version: 1, ageDays: 6 });
  });
});
