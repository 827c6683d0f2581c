import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { chainedRecords, describeStoreConformance } from './conformance.js';
import { openSqliteStore } from './index.js';

const dirs: string[] = [];
let current = '';
function freshPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bridge-store-'));
  dirs.push(dir);
  current = join(dir, 'bridge.db');
  return current;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describeStoreConformance(
  'SQLite',
  () => openSqliteStore(freshPath()),
  () => openSqliteStore(current),
);

describe('SQLite specifics', () => {
  it('runs in WAL mode, and a commit is visible to another connection at once', () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    store.commitRecords('gate-01', 'school-1', chainedRecords('gate-01', 3));
    const other = new Database(path, { readonly: true });
    expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
    expect((other.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n).toBe(3);
    other.close();
    store.close();
  });

  it('refuses a database written by a newer bridge', () => {
    const path = freshPath();
    openSqliteStore(path).close();
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => openSqliteStore(path)).toThrow(/newer than this bridge knows/);
  });
});
