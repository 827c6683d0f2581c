import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainRecords, SAMPLE_MONDAY } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { AuditEntry } from '../access/index.js';
import { CentralState } from '../central/index.js';
import { Directory } from '../directory/index.js';
import { LoanLedger } from '../library/loans.js';
import { chainedRecords, libraryRecords } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { TransferLog } from '../transfers/index.js';
import { Leavers } from './leavers.js';

const DAY_MS = 86_400_000;
let dir: string;
let store: BridgeStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'leavers-'));
  store = openTestStore(join(dir, 'bridge.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

// Runs on SQLite and on PostgreSQL (vitest.config.ts): the person id is rewritten inside stored
// JSON with each backend's own JSON functions.
it('replaces a leaver id by a pseudonym in events, loans, transfers and the directory once their days are past', async () => {
  const db = store.database;
  const directory = new Directory(db);
  const transfers = new TransferLog(db);
  new LoanLedger(store);
  const at = (days: number) => new Date(SAMPLE_MONDAY + days * DAY_MS).toISOString();
  let now = new Date(SAMPLE_MONDAY);
  const audited: AuditEntry[] = [];
  const forgotten: { cardId: string; school: string }[][] = [];
  const leavers = new Leavers({
    db,
    store,
    directory,
    cancelCard: () => Promise.reject(new Error('the person has no card here')),
    forgetCards: async (cards) => forgotten.push(cards),
    audit: { record: (entry) => audited.push(entry) },
    logger: pino({ level: 'silent' }),
    leaverDays: () => 30,
    now: () => now,
  });
  directory.putPerson({
    id: 'p1',
    school: 'school-1',
    role: 'student',
    name: 'Li Wei',
    studentNumber: 'G110101201001011234',
    class: '7-1',
    active: true,
  });
  // p1 taps at seq 1 and 4 (and borrows below), p2 at 2 and 5; p1's first tap came from a gate, which
  // named them by their pseudonym (kept in the record beside the id the bridge mapped it back to).
  const taps = chainRecords(
    'gate-01',
    chainedRecords('gate-01', 5).map(({ type, at, data }, i) => ({
      type,
      at,
      data: i === 0 ? { ...data, personPseudonym: 'psn-p1-gate-pseudonym' } : data,
    })),
  );
  store.commitRecords('gate-01', 'school-1', taps);
  store.commitRecords(
    'lib-a',
    'school-1',
    libraryRecords('lib-a', [
      ['library.checkout', at(-2), { loanId: 'lib-a:t1', itemId: 'B1', personId: 'p1', dueAt: at(12) }],
    ]),
  );
  transfers.record({
    personId: 'p1',
    from: 'school-0',
    to: 'school-1',
    on: at(-5).slice(0, 10),
    effectiveAt: at(-5),
    at: at(-5),
    source: 'api',
    actor: 'admin',
    cards: [],
    versions: [],
    before: { id: 'p1', school: 'school-0', role: 'student', name: 'Li Wei', active: true },
  });

  // Two problems the central feed had: one with p1's own record, one with another's that used p1's number.
  new CentralState(db);
  const problem = db.prepare(
    'INSERT INTO central_feed_problems (at, cursor, change_id, kind, record_id, problem) VALUES (?, ?, ?, ?, ?, ?)',
  );
  problem.run(at(-3), 'c1', 'ch1', 'person', 'p1', 'class 9-9 is not a class of school-1');
  problem.run(
    at(-3),
    'c1',
    'ch2',
    'person',
    'p9',
    "student-status number G110101201001011234 is already person p1's",
  );

  const removal = await leavers.remove('p1', { actor: 'admin' });
  expect(removal).toMatchObject({ school: 'school-1', cards: [] });
  expect(audited).toMatchObject([
    { action: 'people.remove', actor: 'admin', target: 'person:p1', outcome: 'ok' },
  ]);
  // Removed again a day later (the feed's page seen twice): the day of anonymisation stays, unaudited.
  now = new Date(SAMPLE_MONDAY + DAY_MS);
  expect(await leavers.remove('p1', { actor: 'central' })).toMatchObject({
    anonymiseAfter: removal.anonymiseAfter,
  });
  expect(audited).toHaveLength(1);
  expect(directory.person('p1')).toMatchObject({ active: false });
  now = new Date(SAMPLE_MONDAY + 30 * DAY_MS - 1000);
  expect(await leavers.anonymiseDue()).toBe(0);
  now = new Date(SAMPLE_MONDAY + 30 * DAY_MS);
  expect(await leavers.anonymiseDue()).toBe(1);
  expect(await leavers.anonymiseDue()).toBe(0);
  // p1 held no card here: no roster to take one off.
  expect(forgotten).toEqual([]);

  const entry = audited.find((e) => e.action === 'people.anonymise');
  expect(entry).toMatchObject({
    action: 'people.anonymise',
    detail: { events: 3, loans: 1, libraryEvents: 1, transfers: 1, feedProblems: 2, directory: 1 },
  });
  const pseudonym = String(entry?.target).replace('person:', '');
  expect(pseudonym).toMatch(/^anon-/);
  const rows = db.prepare('SELECT person_id, record FROM events ORDER BY id').all() as {
    person_id: string | null;
    record: string;
  }[];
  const data = rows.map((row) => ({ person: row.person_id, data: JSON.parse(row.record).data }));
  expect(data.filter((row) => row.person === 'p1')).toEqual([]);
  const theirs = data.filter((row) => row.person === pseudonym);
  expect(theirs).toHaveLength(3);
  for (const row of theirs) {
    expect(row.data.personId).toBe(pseudonym);
    expect(row.data).not.toHaveProperty('cardId');
    expect(row.data).not.toHaveProperty('personPseudonym');
    expect(row.data).not.toHaveProperty('name');
  }
  // Another person's records are as they came.
  expect(data.filter((row) => row.person === 'p2').map((row) => row.data)).toEqual(
    taps.filter((tap) => tap.data.personId === 'p2').map((tap) => tap.data),
  );
  expect(
    db
      .prepare('SELECT person_id, loan FROM loans')
      .all()
      .map((row) => {
        const { person_id, loan } = row as { person_id: string; loan: string };
        return [person_id, JSON.parse(loan).personId];
      }),
  ).toEqual([[pseudonym, pseudonym]]);
  const library = db.prepare('SELECT data FROM library_events').pluck().all() as string[];
  expect(library.map((text) => JSON.parse(text).personId)).toEqual([pseudonym]);
  expect(db.prepare('SELECT record_id, problem FROM central_feed_problems ORDER BY id').all()).toEqual([
    { record_id: pseudonym, problem: 'class 9-9 is not a class of school-1' },
    { record_id: 'p9', problem: `student-status number (anonymised) is already person ${pseudonym}'s` },
  ]);
  expect(transfers.ofPerson('p1')).toEqual([]);
  expect(transfers.ofPerson(pseudonym)).toHaveLength(1);
  expect(directory.person('p1')).toBeUndefined();
  expect(directory.person(pseudonym)).toEqual({
    id: pseudonym,
    school: 'school-1',
    role: 'student',
    name: pseudonym,
    class: '7-1',
    active: false,
  });
});
