import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { type Transfer, TransferLog } from './log.js';

// Runs on SQLite and on PostgreSQL (vitest.config.ts).
let dir: string;
let store: BridgeStore;
let log: TransferLog;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'transfers-'));
  store = openTestStore(join(dir, 'bridge.db'));
  log = new TransferLog(store.database);
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const move = (personId: string, from: string, to: string, on: string): Omit<Transfer, 'id'> => ({
  personId,
  from,
  to,
  on,
  effectiveAt: `${on}T00:00:00.000Z`,
  at: `${on}T09:00:00.000Z`,
  source: 'api',
  actor: 'admin',
  cards: [`CARD-${personId}`],
  versions: [
    { school: from, version: 3 },
    { school: to, version: 7 },
  ],
  before: { id: personId, school: from, role: 'student', name: `Pupil ${personId}`, active: true },
});

it('numbers transfers as it writes them and reads them back by person, by school and newest first', () => {
  const first = log.record(move('p1', 'school-1', 'school-2', '2026-11-09'));
  // Written out of order: a person's transfers still read oldest first.
  const second = log.record(move('p1', 'school-2', 'school-3', '2026-11-02'));
  const third = log.record({ ...move('p2', 'school-1', 'school-3', '2026-11-16'), changeId: 'chg-9' });
  expect(typeof first).toBe('number');
  expect([second - first, third - second]).toEqual([1, 1]);
  expect(log.ofPerson('p1').map((t) => t.id)).toEqual([second, first]);
  expect(log.ofPerson('p1')[1]).toEqual({ id: first, ...move('p1', 'school-1', 'school-2', '2026-11-09') });
  expect(log.ofPerson('p2')[0]?.changeId).toBe('chg-9');
  expect(log.recent(2).map((t) => t.id)).toEqual([third, second]);
  expect(log.recent(10, 'school-2').map((t) => t.id)).toEqual([second, first]);
  expect([...log.peopleOf('school-3').keys()].sort()).toEqual(['p1', 'p2']);
  expect(log.peopleOf('school-3').get('p1')).toHaveLength(2);
  expect(log.people()).toEqual(new Set(['p1', 'p2']));
});
