import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { AuditEntry } from '../access/index.js';
import { Retention, RetentionConfig } from '../retention/index.js';
import { checkoutEvent, libraryRecords, returnEvent } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { LoanLedger } from './loans.js';

// What a pupil borrowed is theirs: the ledger keeps a returned loan, and the item history it was
// rebuilt from, no longer than the school's library events. On a set clock; every date derives from it.

const DAY = 86_400_000;
const NOW = Date.parse('2027-06-15T02:00:00.000Z');
const ago = (days: number) => new Date(NOW - days * DAY).toISOString();

let dir: string;
let store: BridgeStore;
let ledger: LoanLedger;
const chains = new Map<string, EventRecord | undefined>();
const audited: AuditEntry[] = [];

/** A desk's library events, chained on from what it sent before. */
function desk(device: string, events: [string, string, Record<string, unknown>][]) {
  const last = chains.get(device);
  const records = libraryRecords(device, events, last ? { seq: last.seq, hash: last.hash } : undefined);
  chains.set(device, records.at(-1));
  store.commitRecords(device, 'school-1', records);
}
const lend = (loanId: string, itemId: string, at: string, personId = 'p1') =>
  checkoutEvent(at, { loanId, itemId, personId, dueAt: at });
const back = (loanId: string, itemId: string, at: string) => returnEvent(at, { loanId, itemId });
const loans = () =>
  ledger
    .loans('school-1', { limit: 100 })
    .map((loan) => `${loan.loanId}${loan.returnedAt ? '' : ' open'}`)
    .sort();

function purge(days: Record<string, number | null> = {}) {
  return new Retention({
    db: store.database,
    config: RetentionConfig.parse({ days }),
    central: 'off',
    audit: { record: (entry) => audited.push(entry) },
    logger: pino({ level: 'silent' }),
    now: () => new Date(NOW),
    forgetLoans: (cutoffOf, signal) => ledger.forgetReturned(cutoffOf, signal),
  }).runOnce();
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'library-forget-'));
  store = openTestStore(join(dir, 'bridge.db'));
  ledger = new LoanLedger(store);
  chains.clear();
  audited.length = 0;
  desk('desk-1', [
    // B1: lent and back long ago. B2: back long ago, lent again and still out. B3: back last month.
    lend('d1:1', 'B1', ago(500)),
    back('d1:1', 'B1', ago(480)),
    lend('d1:2', 'B2', ago(500)),
    back('d1:2', 'B2', ago(490)),
    lend('d1:3', 'B2', ago(10), 'p2'),
    lend('d1:4', 'B3', ago(60)),
    back('d1:4', 'B3', ago(30)),
  ]);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

it("forgets the loans returned before the library's retention, never one still out or back within it", async () => {
  expect(loans()).toEqual(['d1:1', 'd1:2', 'd1:3 open', 'd1:4']);
  const report = await purge();
  // B1 and B2's first loan: B2 is out again, but its first loan was back long before.
  expect(report.loansForgotten).toBe(2);
  expect(loans()).toEqual(['d1:3 open', 'd1:4']);
  const history = store.database
    .prepare("SELECT count(*) AS n FROM library_events WHERE school = 'school-1' AND item_id = 'B1'")
    .get() as { n: number };
  expect(Number(history.n)).toBe(0);
  // The events go too: B2's first loan is long back, though B2 is out again since.
  const old = store.database
    .prepare("SELECT count(*) AS n FROM events WHERE type LIKE 'library.%' AND at < ?")
    .get(ago(365)) as { n: number };
  expect(Number(old.n)).toBe(0);
  expect(audited).toContainEqual(
    expect.objectContaining({
      action: 'retention.purge',
      target: 'library.loan',
      school: 'school-1',
      detail: { loans: 2, upTo: ago(365) },
    }),
  );
  // Back yesterday, B2's loan stays its year; nothing more to forget.
  desk('desk-1', [back('d1:3', 'B2', ago(1))]);
  expect((await purge()).loansForgotten).toBe(0);
  expect(loans()).toEqual(['d1:3', 'd1:4']);
});

it('keeps a late checkout from before the forgotten history out of the ledger: no loan reopens', async () => {
  await purge();
  // A desk offline for well over a year sends the copy's first lending at last; its return is gone.
  desk('desk-2', [lend('d2:1', 'B1', ago(520), 'p9')]);
  expect(loans()).toEqual(['d1:3 open', 'd1:4']);
  desk('desk-1', [lend('d1:5', 'B1', ago(0))]);
  expect(loans()).toEqual(['d1:3 open', 'd1:4', 'd1:5 open']);
});

it('keeps every loan where a library event type is kept for ever, or for longer', async () => {
  expect((await purge({ 'library.return': null })).loansForgotten).toBe(0);
  expect((await purge({ 'library.*': 600 })).loansForgotten).toBe(0);
  expect(loans()).toEqual(['d1:1', 'd1:2', 'd1:3 open', 'd1:4']);
});
