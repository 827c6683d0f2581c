import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Calendar } from '@educard/terminal-sdk';
import { SAMPLE_MONDAY, sampleCalendar, schoolYearOf, TestAuthority } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Directory } from '../directory/index.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { Operations, type OpsSettings } from './service.js';

/** The dated alarms and the expiry view, on the bridge's clock: every date below is derived from it. */

const DAY = 86_400_000;
const SCHOOL = 'school-1';
const iso = (ms: number) => new Date(ms).toISOString();

let dir: string;
let store: BridgeStore;
let ops: Operations;
let nowMs: number;
let authority: TestAuthority;

function startOps(settings: Partial<OpsSettings> = {}, keySet?: { version: number; issuedAt: string }) {
  ops = new Operations({
    store,
    directory: new Directory(store.database),
    logger: pino({ level: 'silent' }),
    settings,
    now: () => new Date(nowMs),
    ...(keySet ? { keySet: () => keySet } : {}),
  });
}

/** Stores a roster version signed now, valid for `validDays`, and tells operations as the roster service does. */
function publish(version: number, calendar: Calendar | undefined, validDays = 7) {
  const issued = authority.snapshot(version, [], {
    issuedAt: iso(nowMs),
    expiresAt: iso(nowMs + validDays * DAY),
    ...(calendar ? { calendar } : {}),
  });
  store.commitRosters([
    {
      school: SCHOOL,
      cards: [],
      settings: calendar ? { calendar, schedules: [] } : undefined,
      version: {
        school: SCHOOL,
        version,
        snapshotManifest: Buffer.from(issued.manifest).toString('utf8'),
        snapshotBody: issued.body,
        createdAt: iso(nowMs),
      },
    },
  ]);
  ops.checkDates(SCHOOL);
}

const open = () =>
  ops.alarms
    .list({ open: true, limit: 100 })
    .map((a) => `${a.kind} ${a.school ?? '-'} x${a.count}: ${a.message}`)
    .sort();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ops-expiry-'));
  store = openTestStore(join(dir, 'bridge.db'));
  nowMs = SAMPLE_MONDAY;
  authority = new TestAuthority(SCHOOL, { now: () => nowMs });
  startOps();
});
afterEach(async () => {
  ops.stop();
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a school calendar with no day off in the school year under way', () => {
  it('raises calendar.empty when the roster is published, and clears it when a calendar with days off arrives', () => {
    const year = schoolYearOf(nowMs);
    const lastYear = sampleCalendar(nowMs - 365 * DAY);
    publish(1, lastYear);
    expect(open()).toEqual([
      `calendar.empty school-1 x1: no holidays or closures entered for the school year ${year.first} to ${year.last}`,
    ]);
    expect(ops.expiryView(SCHOOL).calendars).toEqual([
      { school: SCHOOL, timeZone: 'Asia/Shanghai', schoolYear: year, holidays: 0, closures: 0 },
    ]);
    // Checked again with nothing changed: the same alarm, not counted twice.
    ops.checkDates();
    expect(open()).toHaveLength(1);

    publish(2, { ...sampleCalendar(nowMs), holidays: [], closures: [year.last] });
    expect(open()).toEqual([]);
    expect(ops.expiryView(SCHOOL).calendars[0]).toMatchObject({ holidays: 0, closures: 1 });
  });

  it('a roster imported without any calendar runs on the empty default one: raised too', () => {
    publish(1, undefined);
    expect(open()).toEqual([expect.stringMatching(/^calendar\.empty school-1 x1: no holidays/)]);
  });

  it('finds the new school year empty at the first daily check after it turns over, on the bridge’s clock', () => {
    // Signed for long enough that only the calendar can raise anything.
    publish(1, sampleCalendar(nowMs), 730);
    ops.start();
    expect(open()).toEqual([]);
    const year = schoolYearOf(nowMs);
    const nextYear = Number(year.first.slice(0, 4)) + 1;
    const nextFirst = Date.parse(`${nextYear}-09-01T08:00:00+08:00`);

    // The evening before: a day since the last check, so it checks; the calendar covers this year.
    nowMs = nextFirst - 12 * 3_600_000;
    ops.evaluate();
    expect(open()).toEqual([]);
    // The new year's first morning: checked only half a day ago, so not yet.
    nowMs = nextFirst;
    ops.evaluate();
    expect(open()).toEqual([]);
    // That evening, a day after the last check.
    nowMs = nextFirst + 12 * 3_600_000;
    ops.evaluate();
    expect(open()).toEqual([
      `calendar.empty school-1 x1: no holidays or closures entered for the school year ${nextYear}-09-01 to ${nextYear + 1}-08-31`,
    ]);
  });

  it('follows the district’s own start of the school year', () => {
    ops.stop();
    startOps({ schoolYearStart: '02-15' });
    nowMs = Date.parse('2027-01-10T08:00:00+08:00');
    // The day before the year starts is last year's.
    publish(1, { ...sampleCalendar(nowMs), holidays: ['2026-02-14'], closures: [] });
    expect(ops.expiryView(SCHOOL).calendars[0]).toMatchObject({
      schoolYear: { first: '2026-02-15', last: '2027-02-14' },
      holidays: 0,
    });
    expect(open()).toEqual([
      expect.stringMatching(/^calendar\.empty school-1 x1: .* 2026-02-15 to 2027-02-14$/),
    ]);
  });
});

describe('a roster near its expiry', () => {
  it('is flagged half-way through a week’s validity, raised again once expired, and cleared by a newer version', () => {
    const calendar = sampleCalendar(nowMs);
    const [token] = store.createTokens(SCHOOL, 1, iso(nowMs + DAY)) as [string];
    store.enrollDevice(token, { id: 'gate-01', publicKey: 'k', secretHash: 'h' }, iso(nowMs));
    store.recordPresence('gate-01', { online: true, bdSeq: 1, at: iso(nowMs), rosterVersion: 1 });
    const issuedAt = nowMs;
    publish(1, calendar);
    ops.start();
    const v1 = {
      school: SCHOOL,
      version: 1,
      issuedAt: iso(issuedAt),
      expiresAt: iso(issuedAt + 7 * DAY),
      warnFrom: iso(issuedAt + 4.5 * DAY),
    };
    expect(ops.expiryView(SCHOOL).rosters).toEqual([
      { ...v1, expiring: false, expired: false, olderHeld: [] },
    ]);

    nowMs = issuedAt + 4 * DAY;
    ops.evaluate();
    expect(open()).toEqual([]);
    nowMs = issuedAt + 5 * DAY;
    ops.evaluate();
    expect(open()).toEqual([
      `roster.expiring school-1 x1: roster 1 expires at ${v1.expiresAt} unless a newer version is published`,
    ]);
    expect(ops.expiryView(SCHOOL).rosters[0]).toMatchObject({ expiring: true, expired: false });

    nowMs = issuedAt + 7 * DAY;
    ops.evaluate();
    // The gate holding it raises its own alarm too.
    expect(open()).toEqual([
      `roster.expiring school-1 x2: roster 1 expired at ${v1.expiresAt}: gates refuse it`,
      `roster.stale school-1 x1: roster 1 expired at ${v1.expiresAt}`,
    ]);

    // A newer version clears it at once; the gate still holding version 1 is listed with its expiry.
    publish(2, calendar);
    expect(open()).toEqual([`roster.stale school-1 x1: roster 1 expired at ${v1.expiresAt}`]);
    expect(ops.expiryView(SCHOOL).rosters).toEqual([
      {
        school: SCHOOL,
        version: 2,
        issuedAt: iso(nowMs),
        expiresAt: iso(nowMs + 7 * DAY),
        warnFrom: iso(nowMs + 4.5 * DAY),
        expiring: false,
        expired: false,
        olderHeld: [{ device: 'gate-01', version: 1, expiresAt: v1.expiresAt }],
      },
    ]);
  });

  it('a manifest valid for long is flagged the configured number of days before it expires', () => {
    ops.stop();
    startOps({ expiryWarningDays: 30 });
    const issuedAt = nowMs;
    publish(1, sampleCalendar(nowMs), 90);
    expect(ops.expiryView(SCHOOL).rosters[0]).toMatchObject({
      warnFrom: iso(issuedAt + 60 * DAY),
      expiring: false,
    });
    expect(ops.expiryView().warningDays).toBe(30);
    nowMs = issuedAt + 61 * DAY;
    ops.checkDates();
    expect(open()).toEqual([expect.stringMatching(/^roster\.expiring school-1 x1: roster 1 expires at/)]);
  });
});

describe('key sets', () => {
  it('carry no expiry: the view shows the latest one’s age on the bridge’s clock', () => {
    ops.stop();
    startOps({}, { version: 2, issuedAt: iso(nowMs - 400 * DAY - 3_600_000) });
    expect(ops.expiryView().keySet).toEqual({
      version: 2,
      issuedAt: iso(nowMs - 400 * DAY - 3_600_000),
      ageDays: 400,
    });
    ops.stop();
    startOps();
    expect(ops.expiryView().keySet).toBeNull();
  });
});
