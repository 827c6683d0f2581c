import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDays, type Bridge, type TransferView } from '@educard/cloud-bridge';
import { type Gateway, RosterStore, type SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import {
  type KeyRole,
  localDate,
  maskCardId,
  SPEC_VERSION,
  type TerminalRequest,
} from '@educard/terminal-sdk';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asAdmin } from '../support/accounts.js';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';
import { CentralTestServer, centralConfig } from '../support/central-server.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

// Two schools of one district, a gate gateway enrolled at each, the test central system, and a pupil
// who moves from the first to the second. Every date is the real clock's, in the schools' zone.

const ZONE = 'Asia/Shanghai';
const DAY = 86_400_000;
const SECRET = 'parent-notices-secret-0123456789abcdef';
const calendar = { timeZone: ZONE, holidays: [], closures: [], makeUpDays: [] };
const VALID = {
  validFrom: new Date(Date.now() - 30 * DAY).toISOString(),
  validUntil: new Date(Date.now() + 300 * DAY).toISOString(),
};

let dir: string;
let central: CentralTestServer;
let bridge: Bridge;
let hooks: Record<'s-a' | 's-b', WebhookReceiver>;
let gateways: Gateway[];

const school = (id: string) => ({ kind: 'school', changeId: `c-${id}`, id, name: `School ${id}`, calendar });
const student = (id: string, at: string, extra: Record<string, unknown> = {}) => ({
  kind: 'person',
  changeId: `c-${id}-${at}`,
  id,
  school: at,
  role: 'student',
  name: `Pupil ${id}`,
  studentNumber: `G1101012015010100${id.slice(1).padStart(2, '0')}`,
  class: at === 's-a' ? '3-1' : '5-2',
  grade: '3',
  ...extra,
});
const uids = new Map<string, string>();
const card = (cardId: string, personId: string, extra: Record<string, unknown> = {}) => {
  if (!uids.has(cardId)) uids.set(cardId, sampleUid(uids.size + 1));
  return {
    kind: 'card',
    changeId: `c-${cardId}-${personId}`,
    cardId,
    personId,
    credential: { kind: 'uid', uid: uids.get(cardId) },
    status: 'active',
    ...VALID,
    zones: ['main-gate', 'library'],
    schedules: [],
    ...extra,
  };
};

/** Pulls the feed now, as an operator's button does. */
async function pull(): Promise<{ pages: number; applied: number; problems: number }> {
  const pulled = await asAdmin(bridge.httpUrl, 'POST', '/v1/central/feed/pull', {});
  expect(pulled.status).toBe(200);
  return pulled.body as never;
}

async function startGateway(id: string, at: string, station?: Record<string, unknown>): Promise<Gateway> {
  const dataDir = join(dir, id);
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  const mqtt = await enrollDevice(bridge.httpUrl, dataDir, id, at);
  const gateway = await startUplinkGateway(
    dataDir,
    id,
    mqtt,
    bridge.httpUrl,
    {},
    { school: at, ...(station ? { station } : {}) },
  );
  gateways.push(gateway);
  return gateway;
}

/** The gate's decision on the card held to its reader now. */
function tap(gateway: Gateway, cardId: string): string {
  let reason = '';
  const off = gateway.station.events.on('tap', (outcome) => {
    reason = outcome.decision.reason;
  });
  (gateway.readers as SimulatedReaderDriver).present('sim-in', { uid: uids.get(cardId) as string });
  off();
  return reason;
}

const version = (at: string) => bridge.store.latestRosterVersion(at)?.version ?? 0;
const holds = (gateway: Gateway, want: number) => () => (gateway.roster.view?.version ?? 0) >= want;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'central-transfer-'));
  central = await CentralTestServer.start();
  hooks = { 's-a': await WebhookReceiver.start(SECRET), 's-b': await WebhookReceiver.start(SECRET) };
  const webhook = (at: 's-a' | 's-b') => ({
    school: at,
    url: hooks[at].url,
    secret: SECRET,
    debounceMs: 200,
    batchWindowMs: 50,
  });
  bridge = await startBridge(join(dir, 'bridge'), {
    central: centralConfig(central),
    notices: { tickMs: 25, webhooks: [webhook('s-a'), webhook('s-b')] },
  });
  gateways = [];
  central.changes.push(
    school('s-a'),
    school('s-b'),
    { kind: 'class', changeId: 'c-3-1', school: 's-a', id: '3-1', name: 'Class 3-1', grade: '3' },
    { kind: 'class', changeId: 'c-5-2', school: 's-b', id: '5-2', name: 'Class 5-2', grade: '3' },
    student('p1', 's-a'),
    student('p2', 's-a'),
    card('E0000001', 'p1'),
    card('E0000002', 'p2'),
  );
  await pull();
  expect([version('s-a'), version('s-b')]).toEqual([1, 1]);
});
afterEach(async () => {
  for (const gateway of gateways) await gateway.stop();
  await bridge.stop();
  await central.stop();
  for (const hook of Object.values(hooks)) await hook.down();
  await rm(dir, { recursive: true, force: true });
});

// Real gateways start, enroll and fetch rosters: a busy shared machine needs more than the default time.
describe('a pupil who changes school keeps one card', { timeout: 60_000 }, () => {
  it.each([
    ['their person record only', () => [student('p1', 's-b')]],
    [
      'their person record and the unchanged card record',
      () => [student('p1', 's-b'), card('E0000001', 'p1')],
    ],
    ['a card record naming the new school', () => [card('E0000001', 'p1', { school: 's-b' })]],
  ])(
    'through the feed, by %s: denied at the old school as transferred, granted at the new one',
    async (_form, records) => {
      const gateA = await startGateway('gate-a', 's-a');
      const gateB = await startGateway('gate-b', 's-b');
      await until(() => holds(gateA, 1)() && holds(gateB, 1)(), { what: 'both gates hold version 1' });
      expect([tap(gateA, 'E0000001'), tap(gateB, 'E0000001')]).toEqual(['ok', 'unknown-card']);

      const transfer = records();
      central.changes.push(...transfer);
      expect(await pull()).toMatchObject({ pages: 1, problems: 0 });
      // One new version each: the card cancelled as transferred at the old school, active at the new.
      expect([version('s-a'), version('s-b')]).toEqual([2, 2]);
      await until(() => holds(gateA, 2)() && holds(gateB, 2)(), { what: 'both gates hold version 2' });
      expect([tap(gateA, 'E0000001'), tap(gateB, 'E0000001')]).toEqual(['transferred', 'ok']);
      expect(tap(gateA, 'E0000002')).toBe('ok');
      expect(gateA.roster.view?.byCardId('E0000001')).toMatchObject({
        status: 'cancelled',
        statusReason: 'transferred',
      });
      // A gate names the pupil by its school's pseudonym only (docs/privacy.md).
      expect(gateB.roster.view?.byCardId('E0000001')).toMatchObject({
        status: 'active',
        school: 's-b',
        personId: expect.stringMatching(/^psn-/),
      });

      expect(central.reports).toEqual([]);
      const status = await asAdmin(bridge.httpUrl, 'GET', '/v1/central/status');
      expect(status.body).toMatchObject({ feed: { problems: 0 } });
      expect(bridge.directory.person('p1')?.school).toBe('s-b');

      // The operations view: the transfer, and gate by gate when each school's version was applied.
      const view = await until(
        async () => {
          const answer = await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/transfers?school=s-a');
          const [latest] = answer.body.transfers as TransferView[];
          return latest?.schools.every((s) => s.gates?.every((g) => g.appliedAt)) ? latest : undefined;
        },
        { what: 'both gates to report the version they applied' },
      );
      expect(view).toMatchObject({
        personId: 'p1',
        name: 'Pupil p1',
        from: 's-a',
        to: 's-b',
        on: localDate(Date.now(), ZONE),
        source: 'feed',
        actor: 'central',
        cards: [maskCardId('E0000001')],
        schools: [
          { school: 's-a', version: 2, gates: [{ device: 'gate-a', applied: true, rosterVersion: 2 }] },
          { school: 's-b', version: 2, gates: [{ device: 'gate-b', applied: true, rosterVersion: 2 }] },
        ],
      });

      // Applied again (a pull cut short, or the central system sending it twice), it changes nothing.
      central.changes.push(...transfer);
      expect(await pull()).toMatchObject({ problems: 0 });
      expect([version('s-a'), version('s-b')]).toEqual([2, 2]);
      const again = await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/transfers');
      expect(again.body.transfers).toHaveLength(1);
    },
  );

  it('refuses a second person claiming the transferred card as a bad record', async () => {
    central.changes.push(student('p1', 's-b'));
    await pull();
    expect([version('s-a'), version('s-b')]).toEqual([2, 2]);
    central.changes.push({ ...card('E0000001', 'p2'), changeId: 'c-claim' });
    expect(await pull()).toMatchObject({ problems: 1 });
    expect(central.reports.flatMap((r) => r.problems)).toEqual([
      {
        changeId: 'c-claim',
        kind: 'card',
        id: 'E0000001',
        problem: "duplicate card: card id is already person p1's",
      },
    ]);
    expect([version('s-a'), version('s-b')]).toEqual([2, 2]);
    expect(bridge.store.findCard('E0000001')).toMatchObject({
      school: 's-b',
      personId: 'p1',
      status: 'active',
    });
  });

  it('refuses records that contradict each other or date a transfer ahead, reporting each', async () => {
    const tomorrow = addDays(localDate(Date.now(), ZONE), 1);
    central.changes.push(
      student('p1', 's-b'),
      { ...card('E0000001', 'p1', { school: 's-a' }), changeId: 'c-contradicts' },
      { ...student('p2', 's-b', { transferDate: tomorrow }), changeId: 'c-ahead' },
      { ...card('E0000002', 'p2', { school: 's-zzz' }), changeId: 'c-nowhere' },
    );
    expect(await pull()).toMatchObject({ problems: 3 });
    expect(central.reports.flatMap((r) => r.problems).map((p) => [p.changeId, p.problem])).toEqual([
      ['c-ahead', expect.stringMatching(/^transfer date \d{4}-\d\d-\d\d is after today/)],
      ['c-contradicts', "card names school s-a, but its person's record in this page names school s-b"],
      ['c-nowhere', 'unknown school s-zzz'],
    ]);
    // The good person record moved the first pupil; the second stayed where they were.
    expect(bridge.store.findCard('E0000001')).toMatchObject({ school: 's-b' });
    expect(bridge.store.findCard('E0000002')).toMatchObject({ school: 's-a', status: 'active' });
    expect([version('s-a'), version('s-b')]).toEqual([2, 2]);
  });

  it('completes a transfer an earlier bridge applied half: by the next card record, or by the API', async () => {
    // What a person record did before transfers were applied whole: the directory moved, the card not.
    for (const id of ['p1', 'p2']) {
      const person = bridge.directory.person(id);
      if (person) bridge.directory.putPerson({ ...person, school: 's-b', class: '5-2' });
    }
    central.changes.push(card('E0000001', 'p1'));
    expect(await pull()).toMatchObject({ problems: 0 });
    expect(bridge.store.findCard('E0000001')).toMatchObject({ school: 's-b', class: '5-2' });
    const healed = await asAdmin(bridge.httpUrl, 'POST', '/v1/people/p2/transfer', { to: 's-b' });
    expect(healed.body).toMatchObject({ from: 's-a', to: 's-b', cards: ['E0000002'] });
    expect(bridge.store.findCard('E0000002')).toMatchObject({ school: 's-b', class: '5-2' });
    const listed = await asAdmin(bridge.httpUrl, 'GET', '/v1/ops/transfers');
    expect(
      (listed.body.transfers as TransferView[]).map((t) => [t.personId, t.from, t.to, t.source]),
    ).toEqual([
      ['p2', 's-a', 's-b', 'api'],
      ['p1', 's-a', 's-b', 'feed'],
    ]);
    expect(bridge.store.rosterCards('s-a').map((c) => c.statusReason)).toEqual([
      'transferred',
      'transferred',
    ]);
  });

  it('keeps an open loan on the old school’s desk, owed by the pupil who left, and takes it back', async () => {
    const imported = await asAdmin(bridge.httpUrl, 'POST', '/v1/catalogue/s-a/import', {
      items: [{ itemId: 'B1', title: 'Book B1' }],
    });
    expect(imported.status).toBe(200);
    const desk = await startGateway('desk-a', 's-a', {
      type: 'library',
      id: 'desk',
      zone: 'library',
      debounceMs: 0,
    });
    await until(holds(desk, 1), { what: 'the desk holds version 1' });
    await until(() => desk.localState().catalogueVersion, { what: 'the desk holds the catalogue' });
    const station = desk.station;
    let requests = 0;
    const ask = (name: string, args: Record<string, unknown>) =>
      station.handle?.({
        v: SPEC_VERSION,
        id: `r${++requests}`,
        terminal: 'desk-page',
        name,
        args,
      } as TerminalRequest);
    expect(
      await ask('library.checkout', { personId: 'p1', itemId: 'B1', txn: 'txn-loan-0001' }),
    ).toMatchObject({
      status: 'ok',
    });

    central.changes.push(student('p1', 's-b'));
    await pull();
    await until(holds(desk, 2), { what: 'the desk holds version 2' });
    const account = await ask('library.patron', { personId: 'p1' });
    expect(account?.data).toMatchObject({
      patron: { personId: 'p1', cardStatus: 'transferred' },
      loans: [{ itemId: 'B1', title: 'Book B1' }],
      blocks: ['card-transferred'],
      canBorrow: false,
    });
    expect(await ask('library.return', { itemId: 'B1', txn: 'txn-back-0001' })).toMatchObject({
      status: 'ok',
      data: { itemId: 'B1', personId: 'p1' },
    });
    // The old school's ledger at the bridge follows: the loan returned.
    await until(
      async () => {
        const loans = await asAdmin(bridge.httpUrl, 'GET', '/v1/library/s-a/loans?person=p1');
        const [loan] = loans.body.loans as { returnedAt?: string }[];
        return loan?.returnedAt;
      },
      { what: 'the bridge to see the return' },
    );
  });

  it('sends notices of the pupil’s next passage to the new school’s webhook only', async () => {
    const gateA = await startGateway('gate-a', 's-a');
    const gateB = await startGateway('gate-b', 's-b');
    await until(() => holds(gateA, 1)() && holds(gateB, 1)(), { what: 'both gates hold version 1' });
    expect(tap(gateA, 'E0000001')).toBe('ok');
    await until(() => hooks['s-a'].notices.some((n) => n.personId === 'p1'), {
      what: "the old school's notice",
    });

    central.changes.push(student('p1', 's-b'));
    await pull();
    await until(() => holds(gateA, 2)() && holds(gateB, 2)(), { what: 'both gates hold version 2' });
    expect(tap(gateA, 'E0000001')).toBe('transferred');
    expect(tap(gateB, 'E0000001')).toBe('ok');
    const [notice] = await until(
      () => {
        const got = hooks['s-b'].notices.filter((n) => n.personId === 'p1');
        return got.length ? got : undefined;
      },
      { what: "the new school's notice" },
    );
    expect(notice).toMatchObject({
      school: 's-b',
      personId: 'p1',
      class: '5-2',
      direction: 'in',
      device: 'gate-b',
    });
    // A passage of a classmate who stayed still reaches the old school: its webhook is not stuck.
    expect(tap(gateA, 'E0000002')).toBe('ok');
    await until(() => hooks['s-a'].notices.some((n) => n.personId === 'p2'), {
      what: 'the classmate’s notice',
    });
    expect(hooks['s-a'].notices.filter((n) => n.personId === 'p1')).toHaveLength(1);
    expect(hooks['s-b'].notices.filter((n) => n.personId === 'p1')).toHaveLength(1);
  });
});
