import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords } from '@educard/terminal-sdk/testing';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { startCheckpointer } from './checkpointer.js';
import { chainedRecords, describeStoreConformance } from './conformance.js';
import { openSqliteStore } from './index.js';
import { MIGRATIONS } from './migrations.js';

const root = mkdtempSync(join(tmpdir(), 'bridge-store-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});
let files = 0;
let current = '';
function freshPath(): string {
  current = join(root, `bridge-${++files}.db`);
  return current;
}

describeStoreConformance(
  'SQLite',
  () => openSqliteStore(freshPath()),
  () => openSqliteStore(current),
);

describe('SQLite specifics', () => {
  it('runs WAL with synchronous=FULL, and a commit is visible to another connection at once', () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    try {
      expect(store.pragma('journal_mode')).toBe('wal');
      expect(store.pragma('synchronous')).toBe(2);
      expect(store.pragma('foreign_keys')).toBe(1);
      expect(store.pragma('user_version')).toBe(MIGRATIONS.length);
      const records = chainedRecords('gate-01', 3);
      store.commitRecords('gate-01', 'school-1', records);

      const other = new Database(path, { readonly: true });
      try {
        expect(other.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(other.prepare('SELECT count(*) AS n FROM events').get()).toEqual({ n: 3 });
        expect(other.prepare('SELECT seq, hash FROM device_cursors').get()).toEqual({
          seq: 3,
          hash: records[2]?.hash,
        });
      } finally {
        other.close();
      }
      const second = openSqliteStore(path);
      expect(second.cursor('gate-01').seq).toBe(3);
      second.close();
    } finally {
      store.close();
    }
  });

  it('hands projections the records they can interpret, and every record to those that forward them', () => {
    const store = openSqliteStore(freshPath());
    try {
      const seen = { interpreted: [] as number[], every: [] as number[] };
      store.addCommitProjection((events) => seen.interpreted.push(...events.map((e) => e.record.seq)));
      store.addCommitProjection((events) => seen.every.push(...events.map((e) => e.record.seq)), {
        everyRecord: true,
      });
      const [good] = chainedRecords('gate-01', 1) as [EventRecord];
      const records = [
        good,
        ...chainRecords('gate-01', [{ type: 'door.forced', at: good.at, data: { station: 1 } }], good),
      ];
      store.commitRecords('gate-01', 'school-1', records);
      expect(seen).toEqual({ interpreted: [1], every: [1, 2] });
    } finally {
      store.close();
    }
  });

  it('stores a SHA-256 of each enrollment token, never the token', () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    const [token] = store.createTokens('school-1', 1, '2026-12-01T00:00:00Z') as [string];
    store.close();
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT hash FROM enrollment_tokens').all() as { hash: string }[];
    db.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('brings an older schema up to date, converting stored times to UTC', () => {
    const path = freshPath();
    const old = new Database(path);
    for (const step of MIGRATIONS.slice(0, 2)) old.exec(step);
    old.pragma('user_version = 2');
    old
      .prepare(
        "INSERT INTO events (device, school, seq, at, type, record, received_at) VALUES ('g', 's', 1, '2026-11-23T08:00:01+08:00', 't.x', '{}', 'now')",
      )
      .run();
    old.close();
    const store = openSqliteStore(path);
    expect(store.pragma('user_version')).toBe(MIGRATIONS.length);
    expect(
      store.queryEvents({ fromAt: '2026-11-23T00:00:01Z', toAt: '2026-11-23T00:00:02Z', limit: 5 }),
    ).toHaveLength(1);
    store.close();
  });

  it('keeps the roster cards of a database from before cards could be on two rosters', () => {
    const path = freshPath();
    const old = new Database(path);
    for (const step of MIGRATIONS.slice(0, 5)) old.exec(step);
    old.pragma('user_version = 5');
    const card = { cardId: 'c-1', personId: 'p1', school: 's-1', status: 'active' };
    old
      .prepare("INSERT INTO roster_cards (card_id, school, entry) VALUES ('c-1', 's-1', ?)")
      .run(JSON.stringify(card));
    old.close();
    const store = openSqliteStore(path);
    expect(store.rosterCards('s-1')).toEqual([card]);
    expect(store.findCard('c-1')).toEqual(card);
    expect(store.personCards('p1')).toEqual([card]);
    store.close();
  });

  it('moves the events of a bridge before device epochs into epoch 1, ids and their high-water mark kept', () => {
    const path = freshPath();
    const old = new Database(path);
    for (const step of MIGRATIONS.slice(0, 6)) old.exec(step);
    old.pragma('user_version = 6');
    const records = chainRecords(
      'gate-01',
      [1, 2, 3].map(() => ({ type: 't.x', at: '2026-11-23T00:00:00.000Z', data: {} })),
    );
    const insert = old.prepare(
      "INSERT INTO events (device, school, seq, at, type, record, received_at) VALUES ('gate-01', 's', ?, ?, 't.x', ?, 'now')",
    );
    for (const record of records) insert.run(record.seq, record.at, JSON.stringify(record));
    // An event id once handed out is never handed out again, even when its row is gone.
    old.prepare('DELETE FROM events WHERE seq = 3').run();
    old
      .prepare("INSERT INTO device_cursors (device, seq, hash) VALUES ('gate-01', 2, ?)")
      .run(records[1]?.hash);
    old.close();
    const store = openSqliteStore(path);
    expect(store.queryEvents({ limit: 5 }).map((e) => [e.id, e.epoch, e.record.seq])).toEqual([
      [1, 1, 1],
      [2, 1, 2],
    ]);
    expect(store.commitRecords('gate-01', 's', records.slice(2))).toMatchObject({ seq: 3, inserted: 1 });
    expect(store.queryEvents({ afterId: 2, limit: 5 }).map((e) => e.id)).toEqual([4]);
    store.close();
  });

  it('refuses a database written by a newer bridge', () => {
    const path = freshPath();
    openSqliteStore(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    expect(() => openSqliteStore(path)).toThrow(/newer than this bridge knows/);
  });

  it('moves the WAL into the main file from its worker, with automatic checkpoints off', async () => {
    const path = freshPath();
    const store = openSqliteStore(path);
    expect(store.pragma('wal_autocheckpoint')).toBe(0);
    const before = statSync(path).size;
    store.commitRecords('gate-1', 'school-1', chainedRecords('gate-1', 2000));
    const deadline = Date.now() + 5000;
    while (statSync(path).size <= before && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(statSync(path).size).toBeGreaterThan(before);
    store.close();
  });

  it('reports a checkpoint worker that cannot run, so the store can fall back', async () => {
    const reason = await new Promise<string>((resolve) => {
      startCheckpointer(
        join(root, 'no-such-dir', 'bridge.db'),
        { failing: resolve, recovered: () => undefined },
        10,
      );
    });
    expect(reason).toMatch(/checkpoint worker failed: .*(unable to open|directory does not exist)/);
  });
});
