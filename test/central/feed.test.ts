import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { RosterSnapshot } from '@educard/terminal-sdk';
import { sampleCalendar, sampleUid, validAround } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admin, startBridge } from '../support/bridge.js';
import { CentralTestServer, centralConfig, centralStatus } from '../support/central-server.js';

let dir: string;
let bridge: Bridge;
let central: CentralTestServer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'central-feed-'));
  central = await CentralTestServer.start();
  bridge = await startBridge(join(dir, 'bridge'), {
    central: centralConfig(central),
    // A leaver's data is anonymised at the first run after they left: the test runs it itself.
    retention: { leaverDays: 0 },
  });
  // The pull the bridge makes at start, over before the test's changes are in the feed.
  await bridge.central.feed?.pull();
});
afterEach(async () => {
  await bridge.stop();
  await central.stop();
  await rm(dir, { recursive: true, force: true });
});

// The bridge runs on the real clock: the school year, the cards and the leave are dated from it.
const NOW = Date.now();
const calendar = sampleCalendar(NOW);
const LEAVE_FROM = new Date(NOW + 86_400_000).toISOString().slice(0, 10);
const LEAVE_TO = new Date(NOW + 2 * 86_400_000).toISOString().slice(0, 10);
const school = (id: string, extra = {}) => ({
  kind: 'school',
  changeId: `c-${id}`,
  id,
  name: `School ${id}`,
  ...extra,
});
const student = (id: string, schoolId: string, studentNumber: string) => ({
  kind: 'person',
  changeId: `c-${id}`,
  id,
  school: schoolId,
  role: 'student',
  name: `Pupil ${id}`,
  studentNumber,
  class: '3-2',
  grade: '3',
  active: true,
});
let uidCounter = 0;
const card = (cardId: string, personId: string, changeId = `c-${cardId}`) => ({
  kind: 'card',
  changeId,
  cardId,
  personId,
  credential: { kind: 'uid', uid: sampleUid(++uidCounter) },
  status: 'active',
  ...validAround(NOW),
  zones: ['main-gate'],
  schedules: [],
});

function snapshot(schoolId: string): RosterSnapshot | undefined {
  const latest = bridge.store.latestRosterVersion(schoolId);
  return latest
    ? (JSON.parse(Buffer.from(latest.snapshotBody).toString('utf8')) as RosterSnapshot)
    : undefined;
}

describe('the change feed', () => {
  it('applies the good records, reports the bad ones, and publishes each school one whole version', async () => {
    central.changes.push(
      school('s-1', { calendar }),
      school('s-2'),
      { kind: 'class', changeId: 'c-class', school: 's-1', id: '3-2', name: 'Class 3-2', grade: '3' },
      student('p1', 's-1', 'G110101201501011234'),
      student('p2', 's-1', 'L11010120150101123X'),
      student('p3', 's-2', 'J110101201501019999'),
      student('p-bad-number', 's-1', 'G12345'),
      student('p-nowhere', 'no-such-school', 'G110101201501015555'),
      {
        kind: 'person',
        changeId: 'c-t1',
        id: 't1',
        school: 's-2',
        role: 'teacher',
        name: 'Teacher T',
        active: true,
      },
      card('E001', 'p1'),
      card('E002', 'p2'),
      card('E003', 'p3'),
      card('E004', 't1'),
      card('E-dup', 'p1', 'c-dup-a'),
      card('E-dup', 'p3', 'c-dup-b'),
      card('E-orphan', 'p-bad-number'),
      {
        kind: 'leave',
        changeId: 'c-leave',
        id: 'l1',
        personId: 'p1',
        school: 's-1',
        from: LEAVE_FROM,
        to: LEAVE_TO,
        leaveKind: 'sick',
      },
    );
    const pulled = await admin(bridge.httpUrl, '/v1/central/feed/pull', {});
    expect(pulled).toMatchObject({ pages: 1, applied: 12, problems: 5 });

    // Each school's new version holds all its good cards and none of the bad.
    expect(bridge.store.latestRosterVersion('s-1')?.version).toBe(1);
    expect(bridge.store.latestRosterVersion('s-2')?.version).toBe(1);
    const s1 = snapshot('s-1');
    expect(s1?.cards.map((c) => c.cardId).sort()).toEqual(['E001', 'E002']);
    expect(s1?.calendar).toEqual(calendar);
    expect(s1?.cards.find((c) => c.cardId === 'E001')).toMatchObject({
      personId: 'p1',
      role: 'student',
      school: 's-1',
      class: '3-2',
      grade: '3',
      displayName: 'Pupil p1',
    });
    expect(
      snapshot('s-2')
        ?.cards.map((c) => c.cardId)
        .sort(),
    ).toEqual(['E003', 'E004']);
    expect(bridge.store.findCard('E-dup')).toBeUndefined();
    expect(bridge.store.findCard('E-orphan')).toBeUndefined();
    expect(bridge.directory.person('p1')?.studentNumber).toBe('G110101201501011234');
    expect(bridge.directory.person('p-bad-number')).toBeUndefined();
    expect(bridge.directory.leaves('s-1', LEAVE_FROM, LEAVE_FROM)).toHaveLength(1);

    // The central office learns what to fix; so does the status view.
    const expected = ['c-E-orphan', 'c-dup-a', 'c-dup-b', 'c-p-bad-number', 'c-p-nowhere'];
    expect(central.reports).toHaveLength(1);
    const reported = central.reports[0]?.problems ?? [];
    expect(reported.map((p) => p.changeId).sort()).toEqual(expected);
    expect(reported.find((p) => p.changeId === 'c-p-bad-number')?.problem).toMatch(/studentNumber/);
    expect(reported.find((p) => p.changeId === 'c-p-nowhere')?.problem).toMatch(
      /unknown school no-such-school/,
    );
    expect(reported.find((p) => p.changeId === 'c-dup-a')?.problem).toMatch(/duplicate card/);
    expect(reported.find((p) => p.changeId === 'c-E-orphan')?.problem).toMatch(/unknown person p-bad-number/);
    const status = await centralStatus(bridge.httpUrl);
    expect(status.feed?.cursor).toBe(String(central.changes.length));
    expect(status.feed?.problems).toBe(5);
    expect(status.feed?.latestProblems.map((p) => p.changeId).sort()).toEqual(expected);

    // A card id or UID already another person's is refused on a later page too.
    const stolenUid = card('E005', 'p2');
    stolenUid.credential = {
      kind: 'uid',
      uid: s1?.cards.find((c) => c.cardId === 'E001')?.credential.uid as string,
    };
    central.changes.push(card('E001', 'p2', 'c-steal'), stolenUid, card('E006', 'p2'));
    expect(await admin(bridge.httpUrl, '/v1/central/feed/pull', {})).toMatchObject({
      applied: 1,
      problems: 2,
    });
    expect(bridge.store.latestRosterVersion('s-1')?.version).toBe(2);
    expect(
      snapshot('s-1')
        ?.cards.map((c) => c.cardId)
        .sort(),
    ).toEqual(['E001', 'E002', 'E006']);
    expect(bridge.store.findCard('E001')?.personId).toBe('p1');
    expect(central.reports[1]?.problems.map((p) => p.problem)).toEqual([
      expect.stringMatching(/card id is already person p1's/),
      expect.stringMatching(/UID \*{6}\w{4} is already card \*{4}'s/),
    ]);
  });

  it('applies a page again without a new version, and moves a changed person onto their cards', async () => {
    central.changes.push(school('s-1'), student('p1', 's-1', 'G110101201501011234'), card('E001', 'p1'));
    await admin(bridge.httpUrl, '/v1/central/feed/pull', {});
    const page = { cursor: '3', hasMore: false, records: central.changes.slice(0, 3) };
    const again = await bridge.central.feed?.applyPage(page);
    expect(again?.versions).toEqual([]);
    expect(bridge.store.latestRosterVersion('s-1')?.version).toBe(1);

    central.changes.push({ ...student('p1', 's-1', 'G110101201501011234'), name: 'Renamed', class: '4-1' });
    await admin(bridge.httpUrl, '/v1/central/feed/pull', {});
    expect(bridge.store.latestRosterVersion('s-1')?.version).toBe(2);
    expect(bridge.store.findCard('E001')).toMatchObject({ displayName: 'Renamed', class: '4-1' });
  });

  it('removes a person the feed makes inactive as `people remove` does: cards cancelled at once, audited, anonymised later', async () => {
    central.changes.push(
      school('s-1'),
      student('p1', 's-1', 'G110101201501011234'),
      card('E001', 'p1'),
      card('E002', 'p1'),
      student('p2', 's-1', 'G110101201501015678'),
      card('E003', 'p2'),
    );
    await admin(bridge.httpUrl, '/v1/central/feed/pull', {});
    expect(bridge.store.findCard('E001')?.status).toBe('active');

    central.changes.push({
      ...student('p1', 's-1', 'G110101201501011234'),
      changeId: 'c-p1-left',
      active: false,
    });
    await admin(bridge.httpUrl, '/v1/central/feed/pull', {});
    // One delta per card, as the API's removal: the gates deny them as cancelled, so no passage, no notice.
    expect(['E001', 'E002', 'E003'].map((id) => bridge.store.findCard(id)?.status)).toEqual([
      'cancelled',
      'cancelled',
      'active',
    ]);
    expect(snapshot('s-1')?.cards.find((c) => c.cardId === 'E001')?.status).toBe('cancelled');
    expect(bridge.directory.person('p1')?.active).toBe(false);
    const removals = bridge.audit.query({ action: 'people.remove', limit: 10 });
    expect(removals).toMatchObject([
      { actor: 'central', target: 'person:p1', school: 's-1', outcome: 'ok', detail: { cards: 2 } },
    ]);

    // The same record again (a re-sent page, a later change of theirs) removes nothing twice.
    const version = bridge.store.latestRosterVersion('s-1')?.version;
    central.changes.push({
      ...student('p1', 's-1', 'G110101201501011234'),
      changeId: 'c-p1-again',
      active: false,
    });
    await admin(bridge.httpUrl, '/v1/central/feed/pull', {});
    expect(bridge.store.latestRosterVersion('s-1')?.version).toBe(version);
    expect(bridge.audit.query({ action: 'people.remove', limit: 10 })).toHaveLength(1);

    expect(await bridge.leavers.anonymiseDue()).toBe(1);
    expect(snapshot('s-1')?.cards.map((c) => c.cardId)).toEqual(['E003']);
    expect(bridge.directory.person('p1')).toBeUndefined();
    expect(bridge.directory.personByStudentNumber('G110101201501011234')).toBeUndefined();
    expect(bridge.directory.person('p2')?.active).toBe(true);
  });
});
