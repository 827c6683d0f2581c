import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoanRules } from '@educard/terminal-sdk';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendUnavailable, type PatronRef, type ReplayTransaction } from '../stations/library/backend.js';
import { replayTransactionOf } from '../stations/library/replay.js';
import { type Sip2TestServer, startSip2Server } from '../testing/index.js';
import { refusalOf, Sip2Backend } from './backend.js';
import { Sip2Client } from './client.js';
import type { Sip2ConfigInput } from './config.js';

const NOW = Date.UTC(2024, 4, 6, 9, 30, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RULES: LoanRules = { loanLimit: 5, loanDays: 14, renewals: 2 };
const ada: PatronRef = { personId: 'p1', role: 'student', cardId: 'card-0001' };
const blocked: PatronRef = { personId: 'p2', role: 'student' };

let dir: string;
let server: Sip2TestServer;
const backends: Sip2Backend[] = [];

function backend(options: { config?: Partial<Sip2ConfigInput> } = {}): Sip2Backend {
  const client = new Sip2Client({
    config: {
      host: '127.0.0.1',
      port: server.port,
      user: 'sc',
      password: 'secret',
      institution: 'SCHOOL',
      timeoutMs: 300,
      retries: 1,
      timeZone: 'UTC',
      ...options.config,
    },
    now: () => NOW,
  });
  const made = new Sip2Backend({ client, stateFile: join(dir, 'sip2-replay.json') });
  backends.push(made);
  return made;
}

const base = (txn: string) => ({ txn, station: 'desk', at: new Date(NOW), rules: RULES });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sip2-backend-'));
  server = await startSip2Server({
    now: () => NOW,
    patrons: [
      { id: 'p1', name: 'Ada Lovelace' },
      { id: 'p2', name: 'Blocked Pupil', blocked: 'Patron has unpaid fines' },
      { id: 'p3', name: 'Busy Reader', loanLimit: 1 },
    ],
    items: [
      { id: 'b1', title: 'Dune' },
      { id: 'b2', title: 'Emma' },
      { id: 'b3', title: 'Ulysses', holder: 'p2', dueAt: new Date(NOW - DAY) },
      { id: 'b4', title: 'Beloved' },
    ],
    maxRenewals: 1,
  });
});

afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.stop()));
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('Sip2Backend', () => {
  it('checks out, renews and returns through the library system', async () => {
    const sip = backend();
    await sip.start();
    expect(sip.source).toBe('sip2');
    expect(sip.probeIntervalMs).toBe(30_000);
    const out = await sip.checkout({
      ...base('t1'),
      patron: ada,
      itemId: 'b1',
      loanId: 'gw-1:t1',
      dueAt: new Date(NOW + 7 * DAY),
    });
    // The library system's due date wins over the rules' one; the loan id is the station's.
    expect(out).toEqual({
      ok: true,
      loanId: 'gw-1:t1',
      dueAt: new Date(NOW + 14 * DAY).toISOString(),
      title: 'Dune',
    });
    const renewed = await sip.renew({
      ...base('t2'),
      patron: ada,
      itemId: 'b1',
      dueAt: new Date(NOW + 14 * DAY),
    });
    // SIP2 names no loan and counts no renewals: the station takes them from its ledger.
    expect(renewed).toEqual({ ok: true, dueAt: new Date(NOW + 14 * DAY).toISOString(), title: 'Dune' });
    const back = await sip.return({ ...base('t3'), itemId: 'b1' });
    expect(back).toEqual({ ok: true, personId: 'p1', title: 'Dune' });
    expect(server.received.map((m) => m.code)).toEqual(['93', '99', '11', '29', '09']);
  });

  it('passes the system’s refusals on with its screen message and our code', async () => {
    const sip = backend();
    const checkout = (patron: PatronRef, itemId: string) =>
      sip.checkout({ ...base('t'), patron, itemId, loanId: `gw:${itemId}`, dueAt: new Date(NOW + DAY) });
    expect(await checkout(blocked, 'b1')).toEqual({
      ok: false,
      reason: 'card-suspended',
      message: 'Patron has unpaid fines',
    });
    expect(await checkout(ada, 'b3')).toEqual({
      ok: false,
      reason: 'already-on-loan',
      message: 'Item checked out to another patron',
    });
    expect(await checkout(ada, 'nope')).toMatchObject({ ok: false, reason: 'unknown-item' });
    expect(await checkout({ personId: 'ghost', role: 'student' }, 'b1')).toMatchObject({
      ok: false,
      reason: 'unknown-patron',
    });
    expect(await sip.return({ ...base('t'), itemId: 'b2' })).toMatchObject({
      ok: false,
      reason: 'not-on-loan',
    });
    expect((await checkout(ada, 'b2')).ok).toBe(true);
    expect((await sip.renew({ ...base('t'), patron: ada, itemId: 'b2', dueAt: new Date(NOW) })).ok).toBe(
      true,
    );
    expect(await sip.renew({ ...base('t'), patron: ada, itemId: 'b2', dueAt: new Date(NOW) })).toEqual({
      ok: false,
      reason: 'renewals-exhausted',
      message: 'Renewal limit reached',
    });
    expect(await checkout({ personId: 'p3', role: 'student' }, 'b1')).toMatchObject({ ok: true });
    expect(await checkout({ personId: 'p3', role: 'student' }, 'b4')).toMatchObject({
      ok: false,
      reason: 'loan-limit',
    });
  });

  it('reads a patron’s loans, due dates and blocks from the system', async () => {
    const sip = backend();
    const status = await sip.patronStatus(blocked, { at: new Date(NOW), rules: RULES });
    expect(status).toEqual({
      loans: [{ itemId: 'b3', title: 'Ulysses', dueAt: new Date(NOW - DAY).toISOString() }],
      loanLimit: 5,
      blocks: ['card-suspended'],
    });
    expect((await sip.patronStatus(ada, { at: new Date(NOW), rules: RULES })).blocks).toEqual([]);
    expect(
      (await sip.patronStatus({ personId: 'ghost', role: 'staff' }, { at: new Date(NOW), rules: RULES }))
        .blocks,
    ).toEqual(['unknown-patron']);
  });

  it('lists loans past the item look-ups without a due date, rather than a guessed one', async () => {
    const limited = new Sip2Backend({
      client: new Sip2Client({
        config: {
          host: '127.0.0.1',
          port: server.port,
          user: 'sc',
          password: 'secret',
          institution: 'SCHOOL',
          timeZone: 'UTC',
        },
        now: () => NOW,
      }),
      stateFile: join(dir, 'other-replay.json'),
      maxLoanLookups: 0,
    });
    backends.push(limited);
    expect((await limited.patronStatus(blocked, { at: new Date(NOW), rules: RULES })).loans).toEqual([
      { itemId: 'b3' },
    ]);
  });

  it('names patrons by card number when so configured', async () => {
    server.patrons.set('card-0001', { id: 'card-0001', name: 'Ada by card' });
    const sip = backend({ config: { patronIdentifier: 'cardId' } });
    const out = await sip.checkout({
      ...base('t'),
      patron: ada,
      itemId: 'b1',
      loanId: 'gw:t',
      dueAt: new Date(NOW),
    });
    expect(out.ok).toBe(true);
    expect(server.items.get('b1')?.holder).toBe('card-0001');
    await expect(
      sip.checkout({ ...base('t'), patron: blocked, itemId: 'b2', loanId: 'gw:u', dueAt: new Date(NOW) }),
    ).rejects.toBeInstanceOf(BackendUnavailable);
  });

  it('throws BackendUnavailable when the system is down, stalls, is off line or refuses our login', async () => {
    const request = { ...base('t'), patron: ada, itemId: 'b1', loanId: 'gw:t', dueAt: new Date(NOW) };
    const sip = backend();
    await server.stop();
    await sip.start(); // a system that is down at start is no error
    await expect(sip.checkout(request)).rejects.toBeInstanceOf(BackendUnavailable);
    await expect(sip.patronStatus(ada, { at: new Date(NOW), rules: RULES })).rejects.toBeInstanceOf(
      BackendUnavailable,
    );
    await server.start();

    server.faults.stall = ['11'];
    await expect(sip.checkout(request)).rejects.toBeInstanceOf(BackendUnavailable);
    server.faults.stall = [];

    server.faults.offline = true;
    server.dropConnections();
    await sip.patronStatus(ada, { at: new Date(NOW), rules: RULES }); // reconnects and reads the status
    await expect(sip.checkout(request)).rejects.toThrow(/off line/);
    server.faults.offline = false;

    server.faults.refuseLogin = true;
    await expect(backend().checkout(request)).rejects.toBeInstanceOf(BackendUnavailable);
  });

  it('probes whether the system is back', async () => {
    const sip = backend({ config: { retries: 0 } });
    expect(await sip.probe()).toBe(true);
    server.faults.offline = true;
    expect(await sip.probe()).toBe(false);
    server.faults.offline = false;
    await server.stop();
    expect(await sip.probe()).toBe(false);
    await server.start();
    expect(await sip.probe()).toBe(true);
  });

  it('words refusals as our codes, and one it cannot read as library-refused', () => {
    expect(refusalOf(['Item checked out to another patron'])).toBe('already-on-loan');
    expect(refusalOf(['Patron card reported lost'])).toBe('card-lost');
    expect(refusalOf(['Too many items checked out'])).toBe('loan-limit');
    expect(refusalOf(['Patron has overdue items'])).toBe('overdue-items');
    expect(refusalOf(['Item is for reference only'])).toBe('item-reference');
    expect(refusalOf(['Patron account expired'])).toBe('card-suspended');
    expect(refusalOf(['Item on hold for another patron'])).toBe('renewals-exhausted');
    expect(refusalOf([])).toBe('library-refused');
    expect(refusalOf(['Computer says no'])).toBe('library-refused');
  });
});

describe('Sip2Backend.replay', () => {
  const at = (hoursAgo: number) => new Date(NOW - hoursAgo * HOUR).toISOString();
  const due = new Date(NOW + 14 * DAY).toISOString();
  // What the desk did on its own while the library system was down.
  const offline: ReplayTransaction[] = [
    { kind: 'checkout', id: 'gw:t1', at: at(5), personId: 'p1', itemId: 'b1', dueAt: due },
    { kind: 'checkout', id: 'gw:t2', at: at(4), personId: 'p1', itemId: 'b2', dueAt: due },
    { kind: 'return', id: 'gw:t3', at: at(3), itemId: 'b1' },
    // The system would refuse p2 (fines) at its desk; the desk lent it, so no-block makes it take it.
    { kind: 'checkout', id: 'gw:t4', at: at(2), personId: 'p2', itemId: 'b4', dueAt: due },
    { kind: 'checkout', id: 'gw:t5', at: at(2), personId: 'p1', itemId: 'zz9', dueAt: due },
    { kind: 'return', id: 'gw:t6', at: at(1), itemId: 'b3' },
  ];

  it('sends each offline transaction once, in order, even when the replay is cut and started again', async () => {
    // Cut once after the system carried out a checkout, once after it carried out a return: both
    // answers lost, as in a crash of the gateway or the link.
    server.faults.drop = { code: '11', itemId: 'b2', when: 'after', times: 1 };
    const first = await backend().replay(offline);
    expect(first.complete).toBe(false);
    expect(first.outcomes.map((o) => o.id)).toEqual(['gw:t1']);
    expect(first.pending).toEqual(['gw:t2', 'gw:t3', 'gw:t4', 'gw:t5', 'gw:t6']);

    // A restart: a new backend on the same cursor file.
    server.faults.drop = { code: '09', itemId: 'b1', when: 'after', times: 1 };
    const second = await backend().replay(offline);
    expect(second.complete).toBe(false);
    expect(second.outcomes.map((o) => [o.id, o.status, o.already ?? false])).toEqual([
      ['gw:t1', 'accepted', false],
      ['gw:t2', 'accepted', true],
    ]);

    const seen: string[] = [];
    const third = await backend().replay(offline, (outcome) => {
      seen.push(outcome.id);
    });
    expect(third.complete).toBe(true);
    expect(third.pending).toEqual([]);
    expect(seen).toEqual(offline.map((t) => t.id));
    expect(third.outcomes.map((o) => [o.id, o.status, o.already ?? false])).toEqual([
      ['gw:t1', 'accepted', false],
      ['gw:t2', 'accepted', true],
      ['gw:t3', 'accepted', true],
      ['gw:t4', 'accepted', false],
      ['gw:t5', 'refused', false],
      ['gw:t6', 'accepted', false],
    ]);
    expect(third.outcomes[4]).toMatchObject({ reason: 'unknown-item', message: 'Item not found' });
    expect(third.outcomes[0]?.dueAt).toBe(due);

    // Each sent once, no-block, with the desk's own time.
    for (const [code, itemId] of [
      ['11', 'b1'],
      ['11', 'b2'],
      ['09', 'b1'],
      ['11', 'b4'],
      ['11', 'zz9'],
      ['09', 'b3'],
    ] as const) {
      expect(server.requests(code, itemId), `${code} ${itemId}`).toHaveLength(1);
    }
    const checkout = server.requests('11', 'b1')[0];
    expect(checkout?.fixed.slice(0, 20)).toBe('NY20240506   Z043000');
    expect(checkout?.fixed.slice(20)).toBe('20240520   Z093000');
    expect(server.requests('09', 'b3')[0]?.fixed.slice(0, 1)).toBe('Y');
    expect(server.items.get('b1')?.holder).toBeUndefined();
    expect(server.items.get('b2')?.holder).toBe('p1');
    expect(server.items.get('b4')?.holder).toBe('p2');
    expect(server.items.get('b3')?.holder).toBeUndefined();

    // Asked again (the station had not yet settled them): the same answers, nothing sent.
    const count = server.received.filter((m) => m.code === '11' || m.code === '09').length;
    const again = await backend().replay(offline);
    expect(again.outcomes).toEqual(third.outcomes);
    expect(server.received.filter((m) => m.code === '11' || m.code === '09')).toHaveLength(count);
  });

  it('takes the transactions to replay from the station’s locally decided journal events', () => {
    const record = (seq: number, type: string, data: Record<string, unknown>) => ({
      spec: 1 as const,
      device: 'gw-1',
      seq,
      at: at(seq),
      clock: 'synced' as const,
      type,
      data,
      prev: '0'.repeat(64),
      hash: '0'.repeat(64),
    });
    const checkout = {
      station: 'desk',
      loanId: 'gw-1:t1',
      personId: 'p1',
      cardId: 'c1',
      itemId: 'b1',
      dueAt: due,
    };
    expect(replayTransactionOf(record(3, 'library.checkout', { ...checkout, source: 'local' }))).toEqual({
      kind: 'checkout',
      id: 'gw-1:3',
      at: at(3),
      personId: 'p1',
      cardId: 'c1',
      itemId: 'b1',
      dueAt: due,
    });
    expect(
      replayTransactionOf(record(4, 'library.return', { station: 'desk', itemId: 'b1', source: 'local' })),
    ).toEqual({
      kind: 'return',
      id: 'gw-1:4',
      at: at(4),
      itemId: 'b1',
    });
    expect(
      replayTransactionOf(record(5, 'library.checkout', { ...checkout, source: 'sip2' })),
    ).toBeUndefined();
    expect(replayTransactionOf(record(6, 'gate.decision', { source: 'local' }))).toBeUndefined();
  });

  it('does not check out again what the system already has on loan to the patron', async () => {
    // The desk's own request reached the system but its answer did not: the station lent it locally.
    server.items.set('b1', { id: 'b1', title: 'Dune', holder: 'p1', dueAt: new Date(NOW + DAY) });
    const report = await backend().replay([offline[0] as ReplayTransaction]);
    expect(report.outcomes).toEqual([
      { id: 'gw:t1', kind: 'checkout', itemId: 'b1', status: 'accepted', already: true },
    ]);
    expect(server.requests('11')).toHaveLength(0);
  });

  it('leaves everything pending while the system is down, and forgets what the station settled', async () => {
    await server.stop();
    const down = await backend().replay(offline);
    expect(down).toEqual({ outcomes: [], pending: offline.map((t) => t.id), complete: false });
    await server.start();
    await backend().replay(offline.slice(0, 2));
    const file = async () => JSON.parse(await readFile(join(dir, 'sip2-replay.json'), 'utf8'));
    expect(Object.keys((await file()).entries)).toEqual(['gw:t1', 'gw:t2']);
    await backend().replay(offline.slice(1, 3));
    expect(Object.keys((await file()).entries)).toEqual(['gw:t2', 'gw:t3']);
    expect(server.requests('11', 'b2')).toHaveLength(1);
  });
});
