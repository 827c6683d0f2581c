import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Bridge } from '@educard/cloud-bridge';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { until } from '@educard/scripts/support';
import type { CardEntry, KeyRole } from '@educard/terminal-sdk';
import { calendarWithSchoolToday, sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, makeAccount } from '../support/accounts.js';
import { admin, enrollDevice, startBridge } from '../support/bridge.js';
import { personalDataIn } from '../support/log-scan.js';
import { cardPupils, schoolToday } from '../support/school-day.js';

/**
 * A representative run with every log line kept (debug and up): a bridge and a gate gateway on the
 * real clock, a roster with names and UIDs, a directory with student-status numbers, taps granted and
 * denied (an unknown card, a card reported lost), the pages' API read by a head teacher and an admin
 * (attendance, a pupil's events and export, a card lookup, a wrong password), a pupil removed. Then
 * every line goes through the scanner: no full card id, UID, student-status number or fixture name.
 */

const SCHOOL = 'school-l';
const ZONE = 'Asia/Shanghai';
const cards: CardEntry[] = [11, 12, 23].map((n) =>
  sampleCard(
    n,
    { class: '4-1', grade: '4', schedules: [], zones: ['main-gate'], ...validAround(Date.now()) },
    SCHOOL,
  ),
);
const [granted, lost, removed] = cards as [CardEntry, CardEntry, CardEntry];
const stranger = sampleCard(98, {}, SCHOOL);
const studentNumbers = ['G110101201501015432', 'L330106201602023456', 'J44010320170303789X'];
const uid = (card: CardEntry) => card.credential.uid as string;

let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;
let log = '';
const sink = () =>
  new Writable({
    write(chunk, _encoding, done) {
      log += String(chunk);
      done();
    },
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'log-scan-'));
  bridge = await startBridge(
    join(dir, 'bridge'),
    {},
    { logger: pino({ name: 'bridge', level: 'debug' }, sink()) },
  );
  expect(
    await admin(bridge.httpUrl, `/v1/roster/${SCHOOL}/import`, {
      cards,
      calendar: calendarWithSchoolToday(ZONE),
    }),
  ).toMatchObject({ ok: true });
  cardPupils(bridge.directory, cards, studentNumbers);
  const gateDir = join(dir, 'gate-l');
  await mkdir(join(gateDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(
    join(gateDir, 'roster'),
    (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole,
  );
  const mqtt = await enrollDevice(bridge.httpUrl, gateDir, 'gate-l', SCHOOL);
  gateway = await Gateway.start({
    config: parseConfig({
      device: { id: 'gate-l', school: SCHOOL },
      dataDir: gateDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'], bindings: [{ pattern: 'sim-in', direction: 'in' }] },
      uplink: { url: mqtt.url, bridgeHttp: bridge.httpUrl, username: mqtt.username, password: mqtt.password },
    }),
    logger: createLogger('gate-l', { level: 'debug', destination: sink() }),
  });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('logs of a representative run', () => {
  it('hold no full card id, UID, student-status number or name', async () => {
    const b = bridge as Bridge;
    const gate = gateway as Gateway;
    await until(() => gate.roster.view?.version === 1);
    const readers = gate.readers as SimulatedReaderDriver;
    const tap = async (card: CardEntry, events: number) => {
      readers.present('sim-in', { uid: uid(card) });
      readers.remove('sim-in');
      await until(
        () => b.store.queryEvents({ school: SCHOOL, type: 'gate.decision', limit: 50 }).length >= events,
      );
    };
    await tap(granted, 1);
    await tap(stranger, 2);
    expect((await admin(b.httpUrl, `/v1/cards/${lost.cardId}/lost`, {})).status).toBe('lost');
    await until(() => gate.roster.view?.version === 2);
    await tap(lost, 3);

    await makeAccount(b.httpUrl, {
      username: 'hana',
      role: 'head-teacher',
      school: SCHOOL,
      className: '4-1',
    });
    await makeAccount(b.httpUrl, { username: 'sam', role: 'school-admin', school: SCHOOL });
    expect((await new Browser(b.httpUrl).login('sam', 'a wrong password')).status).toBe(401);
    const teacher = new Browser(b.httpUrl);
    await teacher.login('hana');
    const { date } = schoolToday(ZONE);
    expect((await teacher.request('GET', `/v1/attendance/${SCHOOL}/days/${date}?class=4-1`)).status).toBe(
      200,
    );
    const sam = new Browser(b.httpUrl);
    await sam.login('sam');
    expect((await sam.request('GET', `/v1/events?person=${granted.personId}`)).status).toBe(200);
    expect((await sam.request('GET', `/v1/people/${granted.personId}/export`)).status).toBe(200);
    expect((await sam.request('GET', `/v1/ops/cards/${granted.cardId}`)).status).toBe(200);
    expect((await admin(b.httpUrl, `/v1/people/${removed.personId}/remove`, {})).cards).toEqual([
      removed.cardId,
    ]);
    await until(() => gate.roster.view?.version === 3);
    await b.retention.runOnce();
    await gate.stop();
    gateway = undefined;
    await b.stop();
    bridge = undefined;

    // The run logged what it did: the scan reads real lines, not an empty log.
    expect(log).toMatch(/"msg":"bridge started"/);
    expect(log.split('\n').length).toBeGreaterThan(50);
    const fixtures = {
      cardIds: [...cards, stranger].map((c) => c.cardId),
      uids: [...cards, stranger].map(uid),
      names: cards.map((c) => c.displayName as string),
      studentNumbers,
    };
    expect(personalDataIn(log, fixtures)).toEqual([]);
  });

  it('the scanner finds each kind it looks for', () => {
    const fixtures = {
      cardIds: ['E000000011'],
      uids: ['0000000000000B'],
      names: ['Li Wei'],
      studentNumbers: [],
    };
    const planted = [
      '{"msg":"tap","card":"E000000011"}',
      '{"msg":"tap","uid":"0000000000000b"}',
      '{"msg":"hello Li Wei"}',
      '{"msg":"feed","number":"L33010620160202345X"}',
      '{"msg":"tap","card":"E00****11"}',
    ].join('\n');
    expect(personalDataIn(planted, fixtures).map((f) => [f.line, f.what])).toEqual([
      [1, 'card id'],
      [2, 'UID'],
      [3, 'name'],
      [4, 'student-status number'],
    ]);
  });
});
