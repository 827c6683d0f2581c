import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CatalogueRules,
  checkEventData,
  DEFAULT_LOAN_RULES,
  type EventRecord,
  SPEC_VERSION,
  type TerminalRequest,
} from '@educard/terminal-sdk';
import { sampleCard, type TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CatalogueStore } from '../../catalogue/index.js';
import { Journal } from '../../journal/index.js';
import { createLogger } from '../../log/index.js';
import { PolicyConfig } from '../../policy/index.js';
import type { RosterStore } from '../../roster/index.js';
import {
  BackendUnavailable,
  type LibraryBackend,
  LibraryStation,
  type LibraryStationDeps,
  LoanLedger,
  LocalLedgerBackend,
  type ProbeTimer,
  type ReplayOutcome,
  type ReplayTransaction,
} from './index.js';
import { openLibraryStores } from './testing.js';

const DAY = 86_400_000;
const START = Date.parse('2026-11-23T10:00:00+08:00');
const logger = createLogger('library-test', { level: 'silent' });
const RULES: CatalogueRules = {
  ...DEFAULT_LOAN_RULES,
  student: { loanLimit: 2, loanDays: 14, renewals: 1 },
};
const open = { schedules: [] as string[] };
const reader = { name: 'desk-reader', direction: 'none' as const };
const STUDENT = sampleCard(1, open);
const LOST = sampleCard(2, { ...open, status: 'lost' });
const TEACHER = sampleCard(3, { ...open, role: 'teacher' });
const SUSPENDED = sampleCard(4, { ...open, status: 'suspended' });
const NO_LIBRARY = sampleCard(5, { ...open, zones: ['main-gate'] });
const STUDENT_2 = sampleCard(6, open);

let dir: string;
let now: number;
let authority: TestAuthority;
let journal: Journal;
let roster: RosterStore;
let catalogue: CatalogueStore;
let stations: LibraryStation[];
let txns = 0;

const clock = {
  read: () => ({ now, trusted: true }),
  stamp: () => ({ clock: 'synced' as const }),
};

function station(overrides: Partial<LibraryStationDeps> = {}): LibraryStation {
  const made = new LibraryStation({
    config: { id: 'desk-1', zone: 'library', debounceMs: 0 },
    device: 'lib-gw',
    dataDir: join(dir, 'library'),
    roster: () => roster.view,
    catalogue: () => catalogue.view,
    clock,
    journal,
    policy: PolicyConfig.parse({}),
    logger,
    ...overrides,
  });
  stations.push(made);
  return made;
}

const request = (name: string, args: Record<string, unknown>) =>
  ({ v: SPEC_VERSION, id: `r${++txns}`, terminal: 'desk-page', name, args }) as TerminalRequest;
const txn = () => `txn-${String(++txns).padStart(6, '0')}`;
const checkout = (personId: string, itemId: string, t = txn()) =>
  request('library.checkout', { personId, itemId, txn: t });
const giveBack = (itemId: string, t = txn()) => request('library.return', { itemId, txn: t });
const renew = (personId: string, itemId: string, t = txn()) =>
  request('library.renew', { personId, itemId, txn: t });

async function libraryEvents(): Promise<EventRecord[]> {
  await journal.flush();
  return (await journal.read(1, 10_000)).filter((r) => r.type.startsWith('library.'));
}

async function reopenJournal(): Promise<void> {
  await journal.close();
  journal = await Journal.open({ dir: join(dir, 'journal'), device: 'lib-gw', logger });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'library-'));
  now = START;
  stations = [];
  ({ authority, roster, catalogue, journal } = await openLibraryStores({
    dir,
    device: 'lib-gw',
    cards: [STUDENT, LOST, TEACHER, SUSPENDED, NO_LIBRARY, STUDENT_2],
    items: [
      ...['B1', 'B2', 'B3', 'B4'].map((itemId) => ({ itemId, title: `Book ${itemId}` })),
      { itemId: 'R1', title: 'An Atlas', status: 'reference' as const },
      { itemId: 'W1', title: 'Gone', status: 'withdrawn' as const },
    ],
    rules: RULES,
    now: () => now,
    logger,
  }));
});

afterEach(async () => {
  for (const s of stations) await s.stop();
  await journal.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a tap at the desk', () => {
  it('shows the patron, their loans against the limit, and no block', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    const tap = desk.tap(
      { reader: reader.name, uid: STUDENT.credential.uid as string, detectedAt: 0 },
      reader,
    )?.terminal;
    expect(tap).toMatchObject({
      v: 1,
      station: 'desk-1',
      kind: 'library',
      decision: 'grant',
      reason: 'ok',
      card: `******${STUDENT.cardId.slice(-4)}`,
      patron: {
        personId: STUDENT.personId,
        role: 'student',
        displayName: STUDENT.displayName,
        class: STUDENT.class,
        cardStatus: 'active',
      },
      detail: {
        loans: [
          { itemId: 'B1', title: 'Book B1', dueAt: new Date(START + 14 * DAY).toISOString(), overdue: false },
        ],
        loanLimit: 2,
        blocks: [],
        canBorrow: true,
      },
    });
  });

  it('shows a lost card as blocked, and an unknown card without a patron', async () => {
    const desk = station();
    await desk.start();
    const lost = desk.tap(
      { reader: reader.name, uid: LOST.credential.uid as string, detectedAt: 0 },
      reader,
    )?.terminal;
    expect(lost).toMatchObject({
      decision: 'deny',
      reason: 'lost',
      patron: { personId: LOST.personId, cardStatus: 'lost' },
      detail: { blocks: ['card-lost'], canBorrow: false },
    });
    const unknown = desk.tap({ reader: reader.name, uid: '04FFFFFFFFFFFF', detectedAt: 0 }, reader)?.terminal;
    expect(unknown).toMatchObject({ decision: 'deny', reason: 'unknown-card' });
    expect(unknown?.patron).toBeUndefined();
  });

  it('keeps the loans of a pupil who moved to another school: listed, owed, returned as ever', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    const moved = { ...STUDENT, status: 'cancelled' as const, statusReason: 'transferred' as const };
    const delta = authority.delta(1, 2, [{ op: 'update', card: moved }], {
      issuedAt: new Date(now - 60_000).toISOString(),
      expiresAt: '2099-01-01T00:00:00Z',
    });
    await roster.accept(delta.manifest, delta.body);
    const tap = desk.tap(
      { reader: reader.name, uid: STUDENT.credential.uid as string, detectedAt: 0 },
      reader,
    )?.terminal;
    expect(tap).toMatchObject({
      decision: 'deny',
      reason: 'transferred',
      patron: { personId: STUDENT.personId, cardStatus: 'transferred' },
      detail: { loans: [{ itemId: 'B1' }], blocks: ['card-transferred'], canBorrow: false },
    });
    const account = await desk.handle(request('library.patron', { personId: STUDENT.personId }));
    expect(account.data).toMatchObject({
      patron: { cardStatus: 'transferred' },
      loans: [{ itemId: 'B1', title: 'Book B1' }],
      blocks: ['card-transferred'],
      canBorrow: false,
    });
    expect(await desk.handle(checkout(STUDENT.personId, 'B2'))).toMatchObject({
      status: 'refused',
      reason: 'card-transferred',
    });
    expect(await desk.handle(renew(STUDENT.personId, 'B1'))).toMatchObject({ reason: 'card-transferred' });
    expect(await desk.handle(giveBack('B1'))).toMatchObject({
      status: 'ok',
      data: { itemId: 'B1', personId: STUDENT.personId },
    });
    expect(desk.ledger.loansOf(STUDENT.personId)).toEqual([]);
  });

  it('drops a repeat of the same card within the debounce', async () => {
    const desk = station({ config: { id: 'desk-1', zone: 'library', debounceMs: 60_000 } });
    await desk.start();
    const card = { reader: reader.name, uid: STUDENT.credential.uid as string, detectedAt: 0 };
    expect(desk.tap(card, reader)).toBeDefined();
    expect(desk.tap(card, reader)).toBeUndefined();
  });
});

describe('checkout, return and renewal by the rules', () => {
  it('lends an item for the role’s loan period, journaled durably before the answer', async () => {
    const desk = station();
    await desk.start();
    const t = txn();
    const reply = await desk.handle(checkout(STUDENT.personId, 'B1', t));
    expect(reply).toEqual({
      status: 'ok',
      data: {
        loanId: `lib-gw:${t}`,
        itemId: 'B1',
        personId: STUDENT.personId,
        source: 'local',
        title: 'Book B1',
        dueAt: new Date(START + 14 * DAY).toISOString(),
      },
    });
    const [event] = await libraryEvents();
    expect(event).toMatchObject({
      type: 'library.checkout',
      data: {
        station: 'desk-1',
        loanId: `lib-gw:${t}`,
        personId: STUDENT.personId,
        cardId: STUDENT.cardId,
        itemId: 'B1',
        source: 'local',
      },
    });
    expect(journal.stats().durableSeq).toBeGreaterThanOrEqual(event?.seq ?? Number.POSITIVE_INFINITY);
    expect(desk.ledger.loanOfItem('B1')?.personId).toBe(STUDENT.personId);
  });

  it('gives teachers their own rules', async () => {
    const desk = station();
    await desk.start();
    const reply = await desk.handle(checkout(TEACHER.personId, 'B1'));
    expect(reply.data?.dueAt).toBe(new Date(START + RULES.teacher.loanDays * DAY).toISOString());
  });

  it('refuses past the loan limit, with the reason', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    await desk.handle(checkout(STUDENT.personId, 'B2'));
    const reply = await desk.handle(checkout(STUDENT.personId, 'B3'));
    expect(reply).toMatchObject({ status: 'refused', reason: 'loan-limit' });
    expect(reply.message).toContain('2');
    expect(await libraryEvents()).toHaveLength(2);
  });

  it('refuses a blocked patron with the card’s reason', async () => {
    const desk = station();
    await desk.start();
    expect(await desk.handle(checkout(LOST.personId, 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'card-lost',
    });
    expect(await desk.handle(checkout(SUSPENDED.personId, 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'card-suspended',
    });
    expect(await desk.handle(checkout(NO_LIBRARY.personId, 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'card-invalid',
    });
    expect(await desk.handle(checkout('p-nobody', 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'unknown-patron',
    });
    expect(await libraryEvents()).toHaveLength(0);
  });

  it('refuses items that cannot be lent', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    const refusal = async (itemId: string, personId = STUDENT_2.personId) =>
      (await desk.handle(checkout(personId, itemId))).reason;
    expect(await refusal('NOPE-1')).toBe('unknown-item');
    expect(await refusal('W1')).toBe('unknown-item');
    expect(await refusal('R1')).toBe('item-reference');
    expect(await refusal('B1')).toBe('already-on-loan');
    expect(await refusal('B1', STUDENT.personId)).toBe('already-on-loan');
  });

  it('returns an item, late by whole days, and refuses one not on loan', async () => {
    const desk = station();
    await desk.start();
    const lent = await desk.handle(checkout(STUDENT.personId, 'B1'));
    now = START + 16 * DAY + 3_600_000;
    const back = await desk.handle(giveBack('B1'));
    expect(back).toMatchObject({
      status: 'ok',
      data: { loanId: lent.data?.loanId, itemId: 'B1', personId: STUDENT.personId, overdueDays: 3 },
    });
    expect(desk.ledger.loanOfItem('B1')).toBeUndefined();
    expect(await desk.handle(giveBack('B1'))).toMatchObject({ status: 'refused', reason: 'not-on-loan' });
    expect(await desk.handle(giveBack('NOPE-1'))).toMatchObject({
      status: 'refused',
      reason: 'unknown-item',
    });
  });

  it('renews as often as the rules allow, then refuses', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    now = START + 10 * DAY;
    const renewed = await desk.handle(renew(STUDENT.personId, 'B1'));
    expect(renewed).toMatchObject({
      status: 'ok',
      data: { itemId: 'B1', renewals: 1, dueAt: new Date(now + 14 * DAY).toISOString() },
    });
    expect(desk.ledger.loanOfItem('B1')?.dueAt).toBe(new Date(now + 14 * DAY).toISOString());
    expect(await desk.handle(renew(STUDENT.personId, 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'renewals-exhausted',
    });
    expect(await desk.handle(renew(STUDENT_2.personId, 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'not-on-loan',
    });
  });

  it('blocks a patron with an overdue item: at the tap, for a checkout and for a renewal', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    now = START + 15 * DAY;
    const tap = desk.tap(
      { reader: reader.name, uid: STUDENT.credential.uid as string, detectedAt: 0 },
      reader,
    )?.terminal;
    expect(tap?.detail).toMatchObject({
      loans: [{ itemId: 'B1', overdue: true }],
      blocks: ['overdue-items'],
      canBorrow: false,
    });
    expect(await desk.handle(checkout(STUDENT.personId, 'B2'))).toMatchObject({
      status: 'refused',
      reason: 'overdue-items',
    });
    expect(await desk.handle(renew(STUDENT.personId, 'B1'))).toMatchObject({
      status: 'refused',
      reason: 'overdue-items',
    });
    const patron = await desk.handle(request('library.patron', { personId: STUDENT.personId }));
    expect(patron).toMatchObject({
      status: 'ok',
      data: {
        patron: { personId: STUDENT.personId },
        loans: [{ itemId: 'B1', title: 'Book B1', overdue: true }],
        loanLimit: 2,
        blocks: ['overdue-items'],
        canBorrow: false,
        source: 'local',
      },
    });
  });
});

describe('one transaction, one outcome', () => {
  it('answers a repeated txn (a page reloaded mid-transaction) the same, with one event', async () => {
    const desk = station();
    await desk.start();
    const t = txn();
    const [first, second] = await Promise.all([
      desk.handle(checkout(STUDENT.personId, 'B1', t)),
      desk.handle(checkout(STUDENT.personId, 'B1', t)),
    ]);
    const third = await desk.handle(checkout(STUDENT.personId, 'B1', t));
    expect(first.status).toBe('ok');
    expect(second).toEqual(first);
    expect(third).toEqual(first);
    expect(await libraryEvents()).toHaveLength(1);
    expect(await desk.handle(checkout(STUDENT.personId, 'B2', t))).toMatchObject({
      status: 'error',
      reason: 'txn-reused',
    });
  });

  it('answers a refused txn the same even once the patron could borrow', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    await desk.handle(checkout(STUDENT.personId, 'B2'));
    const t = txn();
    const refused = await desk.handle(checkout(STUDENT.personId, 'B3', t));
    expect(refused.reason).toBe('loan-limit');
    await desk.handle(giveBack('B1'));
    expect(await desk.handle(checkout(STUDENT.personId, 'B3', t))).toEqual(refused);
    expect((await desk.handle(checkout(STUDENT.personId, 'B3'))).status).toBe('ok');
  });

  it('keeps its answers across a restart, renewals and returns too', async () => {
    const desk = station();
    await desk.start();
    const [t1, t2, t3] = [txn(), txn(), txn()];
    const lent = await desk.handle(checkout(STUDENT.personId, 'B1', t1));
    const renewed = await desk.handle(renew(STUDENT.personId, 'B1', t2));
    const back = await desk.handle(giveBack('B1', t3));
    await desk.stop();
    stations = [];
    await reopenJournal();
    const again = station();
    await again.start();
    expect(await again.handle(checkout(STUDENT.personId, 'B1', t1))).toEqual(lent);
    expect(await again.handle(renew(STUDENT.personId, 'B1', t2))).toEqual(renewed);
    expect(await again.handle(giveBack('B1', t3))).toEqual(back);
    expect(await libraryEvents()).toHaveLength(3);
  });
});

describe('the ledger follows the journal', () => {
  it('is rebuilt from the journal when its file is lost', async () => {
    const desk = station();
    await desk.start();
    const t = txn();
    const lent = await desk.handle(checkout(STUDENT.personId, 'B1', t));
    await desk.handle(checkout(STUDENT_2.personId, 'B2'));
    await desk.handle(giveBack('B2'));
    await desk.stop();
    stations = [];
    await rm(join(dir, 'library', 'desk-1.ledger.json'));
    await reopenJournal();
    const again = station();
    await again.start();
    expect(again.ledger.allLoans().map((l) => [l.itemId, l.personId])).toEqual([['B1', STUDENT.personId]]);
    expect(await again.handle(checkout(STUDENT.personId, 'B1', t))).toEqual(lent);
    expect(await libraryEvents()).toHaveLength(3);
  });

  it('is rebuilt from the journal when its file is damaged, and the damaged file is kept aside', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    await desk.stop();
    stations = [];
    await writeFile(join(dir, 'library', 'desk-1.ledger.json'), '{"v":1,"seq":');
    await reopenJournal();
    const again = station();
    await again.start();
    expect(again.ledger.allLoans().map((l) => [l.itemId, l.personId])).toEqual([['B1', STUDENT.personId]]);
    expect(await readdir(join(dir, 'library', 'quarantine'))).toContainEqual(
      expect.stringMatching(/^desk-1\.ledger\.json\./),
    );
  });

  it('takes at start an event journaled before a crash kept the ledger from following', async () => {
    const desk = station();
    await desk.start();
    await desk.handle(checkout(STUDENT.personId, 'B1'));
    await desk.stop();
    stations = [];
    // As if the gateway died after the journal's fsync and before the ledger was written.
    journal.append({
      type: 'library.checkout',
      at: new Date(now).toISOString(),
      clock: 'synced',
      data: {
        station: 'desk-1',
        loanId: 'lib-gw:crashed-txn-1',
        personId: STUDENT.personId,
        itemId: 'B2',
        dueAt: new Date(now + 14 * DAY).toISOString(),
        source: 'local',
      },
    });
    await reopenJournal();
    const again = station();
    await again.start();
    expect(again.ledger.loansOf(STUDENT.personId).map((l) => l.itemId)).toEqual(['B1', 'B2']);
    expect(await again.handle(checkout(STUDENT.personId, 'B3'))).toMatchObject({ reason: 'loan-limit' });
    const repeat = await again.handle(checkout(STUDENT.personId, 'B2', 'crashed-txn-1'));
    expect(repeat).toMatchObject({ status: 'ok', data: { loanId: 'lib-gw:crashed-txn-1' } });
    expect(await libraryEvents()).toHaveLength(2);
  });

  it('is shared through the journal by two desks of one gateway', async () => {
    const one = station();
    const two = station({ config: { id: 'desk-2', zone: 'library', debounceMs: 0 } });
    await one.start();
    await two.start();
    await one.handle(checkout(STUDENT.personId, 'B1'));
    expect(await two.handle(checkout(STUDENT_2.personId, 'B1'))).toMatchObject({ reason: 'already-on-loan' });
    expect((await two.handle(giveBack('B1'))).status).toBe('ok');
    expect((await one.handle(checkout(STUDENT_2.personId, 'B1'))).status).toBe('ok');
  });
});

describe('a library system behind the desk', () => {
  function backend(overrides: Partial<LibraryBackend>): LibraryBackend {
    const unavailable = async () => {
      throw new BackendUnavailable('SIP2 server not answering');
    };
    return {
      source: 'sip2',
      patronStatus: unavailable,
      checkout: unavailable,
      return: unavailable,
      renew: unavailable,
      ...overrides,
    };
  }

  it('journals what the library system decided, marked sip2, and mirrors it in the ledger', async () => {
    const desk = station({
      backend: backend({
        checkout: async (req) => ({ ok: true, loanId: req.loanId, dueAt: '2026-12-24T00:00:00.000Z' }),
      }),
    });
    await desk.start();
    const reply = await desk.handle(checkout(STUDENT.personId, 'B1'));
    expect(reply.data).toMatchObject({ source: 'sip2', dueAt: '2026-12-24T00:00:00.000Z' });
    expect((await libraryEvents())[0]?.data).toMatchObject({ source: 'sip2' });
    expect(desk.ledger.loanOfItem('B1')?.source).toBe('sip2');
  });

  it('shows a loan of another school from the library system the district shares, read-only', async () => {
    let returned = 0;
    const desk = station({
      backend: backend({
        patronStatus: async () => ({
          loans: [
            { itemId: 'B1', dueAt: '2026-12-01T00:00:00.000Z' },
            { itemId: 'OTHER-7', title: 'Kept at the old school', dueAt: '2026-12-02T00:00:00.000Z' },
          ],
          loanLimit: 2,
          blocks: [],
        }),
        return: async () => {
          returned += 1;
          return { ok: true };
        },
        renew: async (req) => ({ ok: true, dueAt: req.dueAt.toISOString() }),
      }),
    });
    await desk.start();
    const account = await desk.handle(request('library.patron', { personId: STUDENT.personId }));
    expect(account.data?.loans).toEqual([
      { itemId: 'B1', title: 'Book B1', dueAt: '2026-12-01T00:00:00.000Z', overdue: false },
      {
        itemId: 'OTHER-7',
        title: 'Kept at the old school',
        dueAt: '2026-12-02T00:00:00.000Z',
        overdue: false,
        elsewhere: true,
      },
    ]);
    expect(await desk.handle(giveBack('OTHER-7'))).toMatchObject({
      status: 'refused',
      reason: 'item-elsewhere',
    });
    expect(await desk.handle(renew(STUDENT.personId, 'OTHER-7'))).toMatchObject({ reason: 'item-elsewhere' });
    expect(returned).toBe(0);
    expect(await desk.handle(giveBack('B1'))).toMatchObject({ status: 'ok', data: { source: 'sip2' } });
    expect(returned).toBe(1);
  });

  it('takes the library system’s refusal', async () => {
    const desk = station({
      backend: backend({
        checkout: async () => ({ ok: false, reason: 'loan-limit', message: 'ILS says no' }),
      }),
    });
    await desk.start();
    expect(await desk.handle(checkout(STUDENT.personId, 'B1'))).toEqual({
      status: 'refused',
      reason: 'loan-limit',
      message: 'ILS says no',
    });
  });

  it('decides locally, marked local, while the library system is unreachable', async () => {
    const desk = station({ backend: backend({}) });
    await desk.start();
    const reply = await desk.handle(checkout(STUDENT.personId, 'B1'));
    expect(reply).toMatchObject({ status: 'ok', data: { source: 'local' } });
    expect((await desk.handle(giveBack('B1'))).data).toMatchObject({ source: 'local' });
    const patron = await desk.handle(request('library.patron', { personId: STUDENT.personId }));
    expect(patron.data).toMatchObject({ source: 'local', loans: [] });
  });

  it('fills in from its ledger the loan and renewals the library system does not name', async () => {
    const desk = station({
      backend: backend({
        checkout: async (req) => ({ ok: true, loanId: req.loanId, dueAt: req.dueAt.toISOString() }),
        renew: async (req) => ({ ok: true, dueAt: req.dueAt.toISOString() }),
        return: async () => ({ ok: true }),
      }),
    });
    await desk.start();
    const t = txn();
    await desk.handle(checkout(STUDENT.personId, 'B1', t));
    expect(await desk.handle(renew(STUDENT.personId, 'B1'))).toMatchObject({
      data: { loanId: `lib-gw:${t}`, renewals: 1, source: 'sip2' },
    });
    now = START + 30 * DAY;
    expect(await desk.handle(giveBack('B1'))).toMatchObject({
      data: { loanId: `lib-gw:${t}`, personId: STUDENT.personId, overdueDays: 16, source: 'sip2' },
    });
    // A loan the library system made without this gateway: renewed, with no loan id to name.
    const other = await desk.handle(renew(STUDENT.personId, 'B2'));
    expect(other).toMatchObject({ status: 'ok', data: { itemId: 'B2', source: 'sip2' } });
    expect(other.data).not.toHaveProperty('loanId');
    const events = await libraryEvents();
    expect(events.map((e) => checkEventData(e))).toEqual([undefined, undefined, undefined, undefined]);
  });

  describe('that comes back', () => {
    let probe: (() => Promise<void>) | undefined;
    const timer: ProbeTimer = (run) => {
      probe = run;
      return () => undefined;
    };
    const fire = async () => {
      const run = probe;
      probe = undefined;
      await run?.();
    };
    let up: boolean;
    let sent: ReplayTransaction[][];
    let failReplay: boolean;

    beforeEach(() => {
      probe = undefined;
      up = false;
      sent = [];
      failReplay = false;
    });

    const replaying = () =>
      backend({
        checkout: async (req) => {
          if (!up) throw new BackendUnavailable('down');
          return { ok: true, loanId: req.loanId, dueAt: req.dueAt.toISOString() };
        },
        probe: async () => up,
        replay: async (transactions, onOutcome) => {
          if (failReplay) throw new Error('cursor file unwritable');
          sent.push([...transactions]);
          const outcomes: ReplayOutcome[] = [];
          for (const t of transactions) {
            const outcome: ReplayOutcome = { id: t.id, kind: t.kind, itemId: t.itemId, status: 'accepted' };
            outcomes.push(outcome);
            await onOutcome?.(outcome);
          }
          return { outcomes, pending: [], complete: true };
        },
      });

    it('keeps what it decided offline until it is replayed, across a restart', async () => {
      const desk = station({ backend: replaying(), probeTimer: timer });
      await desk.start();
      await desk.handle(checkout(STUDENT.personId, 'B1'));
      await desk.handle(giveBack('B1'));
      expect(desk.deciding).toEqual({ by: 'local', unsettled: 2 });
      await desk.stop();
      stations = [];
      await reopenJournal();

      up = true;
      const again = station({ backend: replaying(), probeTimer: timer });
      await again.start();
      expect(again.deciding).toEqual({ by: 'local', unsettled: 2 });
      await fire();
      const [checkoutEvent, returnEvent] = await libraryEvents();
      expect(sent).toEqual([
        [
          expect.objectContaining({ kind: 'checkout', id: `lib-gw:${checkoutEvent?.seq}`, itemId: 'B1' }),
          { kind: 'return', id: `lib-gw:${returnEvent?.seq}`, at: returnEvent?.at, itemId: 'B1' },
        ],
      ]);
      expect(again.deciding).toEqual({ by: 'backend', unsettled: 0 });
      expect((await libraryEvents()).map((e) => e.data.source)).toEqual([
        'local',
        'local',
        'sip2-replayed',
        'sip2-replayed',
      ]);
      for (const event of await libraryEvents()) expect(checkEventData(event)).toBeUndefined();
      expect((await again.handle(checkout(STUDENT.personId, 'B2'))).data).toMatchObject({ source: 'sip2' });
    });

    it('logs a replay that fails and tries again at the next probe', async () => {
      const desk = station({ backend: replaying(), probeTimer: timer });
      await desk.start();
      await desk.handle(checkout(STUDENT.personId, 'B1'));
      up = true;
      failReplay = true;
      await fire();
      expect(desk.deciding).toEqual({ by: 'local', unsettled: 1 });
      expect(probe).toBeDefined();
      failReplay = false;
      await fire();
      expect(desk.deciding).toEqual({ by: 'backend', unsettled: 0 });
    });

    it('keeps nothing to replay without a backend that replays', async () => {
      const desk = station({ backend: backend({}) });
      await desk.start();
      await desk.handle(checkout(STUDENT.personId, 'B1'));
      expect(desk.deciding).toEqual({ by: 'backend', unsettled: 0 });
      const alone = station({ config: { id: 'desk-2', zone: 'library', debounceMs: 0 } });
      await alone.start();
      expect(alone.deciding).toEqual({ by: 'local', unsettled: 0 });
    });
  });

  it('still checks the card on the roster first', async () => {
    let asked = 0;
    const desk = station({
      backend: backend({
        checkout: async (req) => {
          asked += 1;
          return { ok: true, loanId: req.loanId, dueAt: req.dueAt.toISOString() };
        },
      }),
    });
    await desk.start();
    expect((await desk.handle(checkout(LOST.personId, 'B1'))).reason).toBe('card-lost');
    expect(asked).toBe(0);
  });
});

describe('the local backend on its own', () => {
  it('knows no item without a catalogue', async () => {
    const ledger = await LoanLedger.open({ path: join(dir, 'solo.json'), device: 'lib-gw', logger });
    const local = new LocalLedgerBackend(ledger, () => undefined);
    const result = await local.checkout({
      txn: 'txn-solo-1',
      station: 'desk-1',
      at: new Date(now),
      patron: { personId: STUDENT.personId, role: 'student' },
      itemId: 'B1',
      loanId: 'lib-gw:txn-solo-1',
      rules: RULES.student,
      dueAt: new Date(now + 14 * DAY),
    });
    expect(result).toMatchObject({ ok: false, reason: 'unknown-item' });
  });
});
