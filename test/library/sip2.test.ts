import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CatalogueStore,
  createLogger,
  type Journal,
  LibraryStation,
  libraryBackendFor,
  PolicyConfig,
  type ProbeTimer,
  type RosterStore,
} from '@educard/gateway';
import { openLibraryStores, type Sip2TestServer, startSip2Server } from '@educard/gateway/testing';
import {
  DEFAULT_LOAN_RULES,
  type EventRecord,
  SPEC_VERSION,
  type TerminalRequest,
} from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// A library desk whose source of truth is the school's library system over SIP2: the real station,
// journal, roster and catalogue, against the SIP2 test server. The server refuses, fails and stalls;
// the desk decides locally meanwhile, and replays what it did once the server is back.

const NOW = Date.parse('2026-11-23T02:00:00Z');
const DAY = 86_400_000;
const DEVICE = 'lib-gw';
const open = { schedules: [] as string[] };
const ADA = sampleCard(1, open);
const BEN = sampleCard(2, open);

let dir: string;
let server: Sip2TestServer;
let journal: Journal;
let roster: RosterStore;
let catalogue: CatalogueStore;
let logLines: Record<string, unknown>[];
let stations: LibraryStation[];
let requests = 0;

const logger = createLogger('library-sip2', {
  level: 'info',
  destination: {
    write(line: string) {
      logLines.push(JSON.parse(line) as Record<string, unknown>);
    },
  },
});

/** The station's probe timer, fired by hand: `fire` resolves once the probe and any replay are over. */
class ManualTimer {
  private next: (() => Promise<void>) | undefined;
  readonly timer: ProbeTimer = (run) => {
    this.next = run;
    return () => {
      if (this.next === run) this.next = undefined;
    };
  };

  get armed(): boolean {
    return this.next !== undefined;
  }

  async fire(): Promise<void> {
    const run = this.next;
    this.next = undefined;
    if (!run) throw new Error('no probe scheduled');
    await run();
  }
}

async function desk(probes: ManualTimer): Promise<LibraryStation> {
  const dataDir = join(dir, 'library');
  const station = new LibraryStation({
    config: { id: 'desk-1', zone: 'library', debounceMs: 0 },
    device: DEVICE,
    dataDir,
    roster: () => roster.view,
    catalogue: () => catalogue.view,
    clock: { read: () => ({ now: NOW, trusted: true }), stamp: () => ({ clock: 'synced' as const }) },
    journal,
    policy: PolicyConfig.parse({}),
    logger,
    backend: libraryBackendFor(
      {
        host: '127.0.0.1',
        port: server.port,
        user: 'desk1',
        password: 'desk1-secret',
        institution: 'SCHOOL',
        timeoutMs: 250,
        retries: 1,
        timeZone: 'UTC',
      },
      { dataDir, station: 'desk-1', logger, now: () => NOW },
    ),
    probeTimer: probes.timer,
  });
  stations.push(station);
  await station.start();
  return station;
}

const request = (name: string, args: Record<string, unknown>) =>
  ({ v: SPEC_VERSION, id: `r${++requests}`, terminal: 'desk-page', name, args }) as TerminalRequest;
const txn = () => `txn-${String(++requests).padStart(6, '0')}`;
const checkout = (personId: string, itemId: string, t = txn()) =>
  request('library.checkout', { personId, itemId, txn: t });
const giveBack = (itemId: string, t = txn()) => request('library.return', { itemId, txn: t });
const renew = (personId: string, itemId: string, t = txn()) =>
  request('library.renew', { personId, itemId, txn: t });

async function libraryEvents(): Promise<EventRecord[]> {
  await journal.flush();
  return (await journal.read(1, 10_000)).filter((r) => r.type.startsWith('library.'));
}

/** Checkouts of an item the server carried out. */
const lent = (itemId: string) => server.circulation.filter((c) => c.code === '11' && c.itemId === itemId);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'library-sip2-'));
  logLines = [];
  stations = [];
  server = await startSip2Server({
    now: () => NOW,
    users: { desk1: 'desk1-secret' },
    patrons: [
      { id: ADA.personId, name: 'Ada' },
      { id: BEN.personId, name: 'Ben', blocked: 'Patron has unpaid fines' },
      { id: 'p-elsewhere', name: 'A reader at another library' },
    ],
    items: ['B1', 'B2', 'B3', 'B4'].map((id) => ({ id, title: `Book ${id}` })),
  });
  ({ roster, catalogue, journal } = await openLibraryStores({
    dir,
    device: DEVICE,
    cards: [ADA, BEN],
    items: ['B1', 'B2', 'B3', 'B4'].map((itemId) => ({ itemId, title: `Book ${itemId}` })),
    rules: DEFAULT_LOAN_RULES,
    now: () => NOW,
    logger,
  }));
});

afterEach(async () => {
  for (const station of stations) await station.stop();
  await journal.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a library desk with the library system answering', () => {
  it('checks out, renews and returns through SIP2, the server holding the loan', async () => {
    const probes = new ManualTimer();
    const station = await desk(probes);
    const t = txn();
    const reply = await station.handle(checkout(ADA.personId, 'B1', t));
    expect(reply).toEqual({
      status: 'ok',
      data: {
        loanId: `${DEVICE}:${t}`,
        itemId: 'B1',
        personId: ADA.personId,
        source: 'sip2',
        title: 'Book B1',
        dueAt: new Date(NOW + 14 * DAY).toISOString(),
      },
    });
    expect(server.items.get('B1')?.holder).toBe(ADA.personId);
    expect(lent('B1')).toEqual([{ code: '11', itemId: 'B1', patronId: ADA.personId, noBlock: false }]);

    // The account as the library system has it, with what only the ledger knows.
    expect(await station.handle(request('library.patron', { personId: ADA.personId }))).toMatchObject({
      status: 'ok',
      data: {
        loans: [{ itemId: 'B1', dueAt: new Date(NOW + 14 * DAY).toISOString(), overdue: false, renewals: 0 }],
        blocks: [],
        source: 'sip2',
      },
    });
    // SIP2 names no loan and counts no renewals: the station's ledger does.
    expect(await station.handle(renew(ADA.personId, 'B1'))).toMatchObject({
      status: 'ok',
      data: { loanId: `${DEVICE}:${t}`, renewals: 1, source: 'sip2' },
    });
    expect(await station.handle(giveBack('B1'))).toMatchObject({
      status: 'ok',
      data: { loanId: `${DEVICE}:${t}`, personId: ADA.personId, source: 'sip2' },
    });
    expect(server.items.get('B1')?.holder).toBeUndefined();
    const events = await libraryEvents();
    expect(events.map((e) => [e.type, e.data.source])).toEqual([
      ['library.checkout', 'sip2'],
      ['library.renew', 'sip2'],
      ['library.return', 'sip2'],
    ]);
    expect(events[0]?.data.txn).toBe(t);
    expect(station.deciding).toEqual({ by: 'backend', unsettled: 0 });
    expect(probes.armed).toBe(false);
  });

  it('passes the library system’s refusal and its screen message on to the desk', async () => {
    const station = await desk(new ManualTimer());
    server.faults.refuseCheckout = 'Computer says no';
    expect(await station.handle(checkout(ADA.personId, 'B1'))).toEqual({
      status: 'refused',
      reason: 'library-refused',
      message: 'Computer says no',
    });
    server.faults.refuseCheckout = undefined;
    expect(await station.handle(checkout(BEN.personId, 'B1'))).toEqual({
      status: 'refused',
      reason: 'card-suspended',
      message: 'Patron has unpaid fines',
    });
    // The local ledger would have lent it: the library system decides.
    expect(await libraryEvents()).toEqual([]);
    expect(server.items.get('B1')?.holder).toBeUndefined();
  });
});

describe('a library desk while the library system is away', () => {
  it('decides locally while the server is down, and replays the loan once when it is back', async () => {
    const probes = new ManualTimer();
    const station = await desk(probes);
    await server.stop();

    const t = txn();
    const offline = await station.handle(checkout(ADA.personId, 'B2', t));
    expect(offline).toMatchObject({ status: 'ok', data: { loanId: `${DEVICE}:${t}`, source: 'local' } });
    expect(station.deciding).toEqual({ by: 'local', unsettled: 1 });
    expect(probes.armed).toBe(true);

    // A probe while it is still down: nothing changes, and another probe is set.
    await probes.fire();
    expect(station.deciding).toEqual({ by: 'local', unsettled: 1 });
    expect(probes.armed).toBe(true);

    // Up again, but until the replay the desk decides locally, without asking the server.
    await server.start();
    const asked = server.received.length;
    expect(await station.handle(checkout(ADA.personId, 'B3'))).toMatchObject({ data: { source: 'local' } });
    expect(server.received).toHaveLength(asked);

    await probes.fire();
    expect(lent('B2')).toEqual([{ code: '11', itemId: 'B2', patronId: ADA.personId, noBlock: true }]);
    expect(lent('B3')).toHaveLength(1);
    expect(server.items.get('B2')?.holder).toBe(ADA.personId);
    const events = await libraryEvents();
    expect(events.map((e) => [e.data.itemId, e.data.source])).toEqual([
      ['B2', 'local'],
      ['B3', 'local'],
      ['B2', 'sip2-replayed'],
      ['B3', 'sip2-replayed'],
    ]);
    const [original, , replayed] = events;
    expect(replayed).toMatchObject({
      type: 'library.checkout',
      at: original?.at,
      data: {
        loanId: `${DEVICE}:${t}`,
        personId: ADA.personId,
        txn: t,
        replay: { of: `${DEVICE}:${original?.seq}`, at: new Date(NOW).toISOString() },
      },
    });
    expect(replayed?.data.replay).not.toHaveProperty('refused');
    expect(station.deciding).toEqual({ by: 'backend', unsettled: 0 });
    expect(probes.armed).toBe(false);

    // Back to the library system; the replayed loans stand once in the ledger.
    expect(await station.handle(giveBack('B2'))).toMatchObject({ data: { source: 'sip2' } });
    expect(server.items.get('B2')?.holder).toBeUndefined();
    expect(station.ledger.loansOf(ADA.personId).map((l) => l.itemId)).toEqual(['B3']);
    // The reloaded page gets the first answer, not a replayed one.
    expect(await station.handle(checkout(ADA.personId, 'B2', t))).toEqual(offline);
    expect(lent('B2')).toHaveLength(1);
  });

  it('answers the desk within the timeout when the server stalls, and replays once it answers', async () => {
    const probes = new ManualTimer();
    const station = await desk(probes);
    // Connected and logged in: the checkout itself is what goes unanswered.
    expect(await station.handle(request('library.patron', { personId: ADA.personId }))).toMatchObject({
      data: { source: 'sip2' },
    });
    server.faults.stall = ['*'];
    expect(await station.handle(checkout(ADA.personId, 'B1'))).toMatchObject({
      status: 'ok',
      data: { source: 'local' },
    });
    // The stalled checkout reached the server, which never carried it out.
    expect(server.requests('11', 'B1')).toHaveLength(1);
    expect(lent('B1')).toEqual([]);

    await probes.fire();
    expect(station.deciding.by).toBe('local');
    server.faults.stall = [];
    await probes.fire();
    expect(lent('B1')).toEqual([{ code: '11', itemId: 'B1', patronId: ADA.personId, noBlock: true }]);
    expect((await libraryEvents()).map((e) => e.data.source)).toEqual(['local', 'sip2-replayed']);
    expect(await station.handle(checkout(ADA.personId, 'B4'))).toMatchObject({ data: { source: 'sip2' } });
  });

  it('does not lend twice what the server carried out before the answer was lost', async () => {
    const probes = new ManualTimer();
    const station = await desk(probes);
    server.faults.drop = { code: '11', itemId: 'B1', when: 'after', times: 1 };
    expect(await station.handle(checkout(ADA.personId, 'B1'))).toMatchObject({ data: { source: 'local' } });
    expect(lent('B1')).toHaveLength(1);

    await probes.fire();
    expect(lent('B1')).toHaveLength(1);
    expect(server.requests('11', 'B1')).toHaveLength(1);
    const [, replayed] = await libraryEvents();
    expect(replayed?.data).toMatchObject({ source: 'sip2-replayed', replay: { already: true } });
    expect(station.deciding).toEqual({ by: 'backend', unsettled: 0 });
  });

  it('journals and logs a replay the server refused, and goes back to it', async () => {
    const probes = new ManualTimer();
    const station = await desk(probes);
    await server.stop();
    expect(await station.handle(checkout(ADA.personId, 'B2'))).toMatchObject({ data: { source: 'local' } });
    expect(await station.handle(giveBack('B2'))).toMatchObject({ data: { source: 'local' } });
    const t = txn();
    expect(await station.handle(checkout(ADA.personId, 'B3', t))).toMatchObject({
      data: { source: 'local' },
    });
    // Meanwhile the library system lent the same copy of B3 to someone else, and will not take it back.
    server.items.set('B3', { id: 'B3', title: 'Book B3', holder: 'p-elsewhere', dueAt: new Date(NOW + DAY) });
    server.faults.refuseNoBlockOfLentItem = 'Item checked out to another patron';

    await server.start();
    await probes.fire();
    const events = await libraryEvents();
    expect(events.map((e) => [e.type, e.data.itemId, e.data.source])).toEqual([
      ['library.checkout', 'B2', 'local'],
      ['library.return', 'B2', 'local'],
      ['library.checkout', 'B3', 'local'],
      ['library.checkout', 'B2', 'sip2-replayed'],
      ['library.return', 'B2', 'sip2-replayed'],
      ['library.checkout', 'B3', 'sip2-replayed'],
    ]);
    expect(events[5]?.data).toMatchObject({
      loanId: `${DEVICE}:${t}`,
      replay: {
        of: `${DEVICE}:${events[2]?.seq}`,
        refused: true,
        reason: 'already-on-loan',
        message: 'Item checked out to another patron',
      },
    });
    const warning = logLines.find((line) => line.level === 40 && line.of === `${DEVICE}:${events[2]?.seq}`);
    expect(warning).toMatchObject({
      station: 'desk-1',
      item: 'B3',
      reason: 'already-on-loan',
      message: 'Item checked out to another patron',
    });
    expect(server.items.get('B3')?.holder).toBe('p-elsewhere');
    expect(server.items.get('B2')?.holder).toBeUndefined();
    expect(station.deciding).toEqual({ by: 'backend', unsettled: 0 });
  });

  it('replays after a restart what was left unsettled, and goes on after a replay cut short', async () => {
    const probes = new ManualTimer();
    const first = await desk(probes);
    await server.stop();
    await first.handle(checkout(ADA.personId, 'B1'));
    await first.handle(checkout(ADA.personId, 'B2'));
    await first.stop();
    stations = [];

    await server.start();
    // The connection drops as the replay sends B2 (after B1 was lent): the replay is cut short.
    server.faults.drop = { code: '11', itemId: 'B2', when: 'before', times: 1 };
    const restarted = new ManualTimer();
    const again = await desk(restarted);
    expect(again.deciding).toEqual({ by: 'local', unsettled: 2 });
    expect(restarted.armed).toBe(true);
    await restarted.fire();
    expect(again.deciding).toEqual({ by: 'local', unsettled: 1 });
    expect(lent('B1')).toHaveLength(1);
    expect(lent('B2')).toHaveLength(0);
    expect(restarted.armed).toBe(true);
    // Still deciding locally: a return now is replayed after the checkout before it.
    expect(await again.handle(giveBack('B1'))).toMatchObject({ data: { source: 'local' } });

    server.faults.drop = undefined;
    await restarted.fire();
    expect(again.deciding).toEqual({ by: 'backend', unsettled: 0 });
    expect(lent('B1')).toHaveLength(1);
    expect(lent('B2')).toHaveLength(1);
    expect(server.circulation.filter((c) => c.code === '09')).toEqual([
      { code: '09', itemId: 'B1', patronId: ADA.personId, noBlock: true },
    ]);
    expect(server.items.get('B1')?.holder).toBeUndefined();
    expect(server.items.get('B2')?.holder).toBe(ADA.personId);
    const sources = (await libraryEvents()).map((e) => `${e.data.itemId}:${e.data.source}`);
    expect(sources).toEqual([
      'B1:local',
      'B2:local',
      'B1:sip2-replayed',
      'B1:local',
      'B2:sip2-replayed',
      'B1:sip2-replayed',
    ]);
  });
});
