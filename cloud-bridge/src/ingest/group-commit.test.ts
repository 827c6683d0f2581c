import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { chainedRecords } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { GroupCommit } from './group-commit.js';

let dir: string;
let store: BridgeStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'group-commit-'));
  store = openTestStore(join(dir, 'bridge.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('commits the batches of one turn in one transaction, each failing alone', async () => {
  const commits = new GroupCommit(store);
  // A projection that refuses one device's events: its batch fails, the others' do not.
  store.addCommitProjection((events) => {
    if (events.some((e) => e.device === 'gate-bad')) throw new Error('projection refused');
  });
  const transactions: number[] = [];
  const { transaction } = store.database;
  store.database.transaction = ((fn: () => unknown) => {
    transactions.push(1);
    return transaction(fn);
  }) as typeof transaction;
  const devices = ['gate-01', 'gate-02', 'gate-bad', 'gate-03'];
  const results = await Promise.allSettled(
    devices.map((device) => commits.commit(device, 'school-1', chainedRecords(device, 3))),
  );
  expect(transactions).toHaveLength(1);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
  expect(store.cursor('gate-02').seq).toBe(3);
  expect(store.cursor('gate-bad').seq).toBe(0);
  expect(store.countEvents()).toBe(9);
  // The next turn is another transaction.
  await commits.commit('gate-01', 'school-1', chainedRecords('gate-01', 5).slice(3));
  expect(transactions).toHaveLength(2);
  expect(store.cursor('gate-01').seq).toBe(5);
});
