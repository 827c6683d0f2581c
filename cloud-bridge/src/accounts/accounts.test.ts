import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../access/index.js';
import type { BridgeStore, SqlDatabase } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { AuditLog } from './audit.js';
import { Accounts } from './service.js';
import { CheckGate } from './throttle.js';

let dir: string;
let store: BridgeStore;
let db: SqlDatabase;
let audit: AuditLog;
let accounts: Accounts;
const logger = pino({ level: 'silent' });
const cli: Principal = {
  kind: 'admin-token',
  id: 'admin-token',
  username: 'admin-token',
  role: 'district-admin',
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'accounts-unit-'));
  store = openTestStore(join(dir, 'bridge.db'));
  db = store.database;
  audit = new AuditLog(db, logger);
  accounts = new Accounts({ db, audit, logger });
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * A second bridge instance beside `accounts` (which this makes anew with the same settings and
 * clock): its own connection to the store. `close` ends that connection.
 */
function twoInstances(
  settings: ConstructorParameters<typeof Accounts>[0]['settings'],
  now: () => Date,
): { second: Accounts; close: () => void } {
  accounts = new Accounts({ db, audit, logger, settings, now });
  const other = openTestStore(join(dir, 'bridge.db'));
  const second = new Accounts({
    db: other.database,
    audit: new AuditLog(other.database, logger),
    logger,
    settings,
    now,
  });
  return { second, close: () => other.close() };
}

describe('accounts', () => {
  it('stores an argon2id hash, never the password', async () => {
    await accounts.create(
      { username: 'op', displayName: 'Op', password: 'a long enough password', role: 'operator' },
      { principal: cli },
    );
    const row = db.prepare('SELECT password_hash FROM accounts').get() as { password_hash: string };
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(JSON.stringify(db.prepare('SELECT * FROM audit_log').all())).not.toContain(
      'a long enough password',
    );
  });

  it('lets no parallel burst of guesses past the limit', async () => {
    await accounts.create(
      { username: 'op', displayName: 'Op', password: 'a long enough password', role: 'operator' },
      { principal: cli },
    );
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => accounts.login('op', `guess number ${i}`)),
    );
    expect(results.filter((r) => r.ok === false && r.error === 'bad-credentials')).toHaveLength(5);
    expect(results.filter((r) => r.ok === false && r.error === 'throttled')).toHaveLength(7);
    expect((await accounts.login('op', 'a long enough password')).ok).toBe(false);
  });

  it('locks out an address that fails too often whatever names it tries, with one audit entry', async () => {
    let now = new Date('2030-03-04T08:00:00Z');
    accounts = new Accounts({ db, audit, logger, settings: { addressAttempts: 3 }, now: () => now });
    for (const name of ['a1', 'a2', 'a3'])
      expect(await accounts.login(name, 'wrong', '10.0.0.1')).toMatchObject({ error: 'bad-credentials' });
    for (let i = 0; i < 3; i++)
      expect(await accounts.login('a4', 'wrong', '10.0.0.1')).toEqual({
        ok: false,
        error: 'throttled',
        retryAfterSeconds: 300,
      });
    expect(await accounts.login('a4', 'wrong', '10.0.0.2')).toMatchObject({ error: 'bad-credentials' });
    const locks = audit.query({ limit: 100 }).filter((e) => e.detail?.reason === 'address-throttled');
    expect(locks).toHaveLength(1);
    // The lock lasts lockoutMinutes (5), then the address starts afresh.
    now = new Date(now.getTime() + 5 * 60_000 + 1000);
    expect(await accounts.login('a5', 'wrong', '10.0.0.1')).toMatchObject({ error: 'bad-credentials' });
  });

  it('counts an address’s failures across the instances on one store, and each refuses it once locked', async () => {
    const now = new Date('2030-03-04T08:00:00Z');
    const { second, close } = twoInstances({ addressAttempts: 3 }, () => now);
    try {
      expect(await accounts.login('a1', 'wrong', '10.0.0.1')).toMatchObject({ error: 'bad-credentials' });
      expect(await second.login('a2', 'wrong', '10.0.0.1')).toMatchObject({ error: 'bad-credentials' });
      // The third failure, on either instance, locks the address on both.
      expect(await accounts.login('a3', 'wrong', '10.0.0.1')).toMatchObject({ error: 'bad-credentials' });
      for (const instance of [second, accounts, second])
        expect(await instance.login('a4', 'wrong', '10.0.0.1')).toEqual({
          ok: false,
          error: 'throttled',
          retryAfterSeconds: 300,
        });
      const locks = audit.query({ limit: 100 }).filter((e) => e.detail?.reason === 'address-throttled');
      expect(locks).toHaveLength(1);
    } finally {
      close();
    }
  });

  it('counts a name’s failures across the instances on one store, locks it once, and counts afresh after the lock', async () => {
    let now = new Date('2030-03-04T08:00:00Z');
    const { second, close } = twoInstances({ loginAttempts: 3 }, () => now);
    try {
      // From three addresses: the name is what is counted.
      for (const [instance, ip] of [
        [accounts, '10.0.0.1'],
        [second, '10.0.0.2'],
        [accounts, '10.0.0.3'],
      ] as const)
        expect(await instance.login('Op', 'wrong', ip)).toMatchObject({ error: 'bad-credentials' });
      for (const instance of [second, accounts])
        expect(await instance.login('op', 'wrong', '10.0.0.4')).toEqual({
          ok: false,
          error: 'throttled',
          retryAfterSeconds: 300,
        });
      const failed = () =>
        audit
          .query({ limit: 100, action: 'session.login', outcome: 'failed' })
          .reverse()
          .map((e) => e.detail);
      expect(failed()).toEqual([
        { reason: 'unknown-user', failures: 1 },
        { reason: 'unknown-user', failures: 2 },
        { reason: 'unknown-user', failures: 3, lockedUntil: '2030-03-04T08:05:00.000Z' },
      ]);
      now = new Date(now.getTime() + 5 * 60_000 + 1000);
      expect(await second.login('op', 'wrong', '10.0.0.5')).toMatchObject({ error: 'bad-credentials' });
      expect(failed().at(-1)).toEqual({ reason: 'unknown-user', failures: 1 });
    } finally {
      close();
    }
  });

  it('answers busy, without a check, past the queue of password checks', async () => {
    accounts = new Accounts({
      db,
      audit,
      logger,
      settings: { concurrentPasswordChecks: 1, queuedPasswordChecks: 2 },
    });
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => accounts.login(`u${i}`, 'wrong', `10.0.1.${i}`)),
    );
    expect(results.map((r) => (r.ok ? 'ok' : r.error))).toEqual([
      'bad-credentials',
      'bad-credentials',
      'bad-credentials',
      'busy',
      'busy',
      'busy',
    ]);
    // Only the checked ones count as failures of their names.
    expect(audit.query({ limit: 100, action: 'session.login' })).toHaveLength(3);
  });
});

describe('the gate of password checks', () => {
  it('starts at most `concurrent` checks at once and `perSecond` a second, and turns away past the queue', async () => {
    vi.useFakeTimers({ now: new Date('2030-03-04T08:00:00Z') });
    try {
      const gate = new CheckGate({ concurrent: 2, perSecond: 5, queued: 2 });
      const started: number[] = [];
      const turns = [0, 1, 2].map((i) =>
        gate.acquire().then((release) => {
          started.push(i);
          return release;
        }),
      );
      // 0 starts, 1 and 2 wait: the queue is full.
      expect(await gate.acquire()).toBeUndefined();
      await vi.advanceTimersByTimeAsync(0);
      expect(started).toEqual([0]);
      await vi.advanceTimersByTimeAsync(199);
      expect(started).toEqual([0]);
      await vi.advanceTimersByTimeAsync(1);
      expect(started).toEqual([0, 1]);
      // Two run: the third waits for one of them to end, however long that takes.
      await vi.advanceTimersByTimeAsync(1000);
      expect(started).toEqual([0, 1]);
      (await turns[0])?.();
      await vi.advanceTimersByTimeAsync(0);
      expect(started).toEqual([0, 1, 2]);
      (await turns[1])?.();
      const next = gate.acquire();
      await vi.advanceTimersByTimeAsync(200);
      expect(typeof (await next)).toBe('function');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('the audit log', () => {
  it('refuses to change or delete an entry', () => {
    audit.record({ actor: 'op', action: 'alarms.ack', outcome: 'ok' });
    expect(() => db.exec("UPDATE audit_log SET actor = 'someone else'")).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM audit_log')).toThrow(/append-only/);
    // PostgreSQL has a TRUNCATE besides (SQLite has none): refused too.
    if (db.dialect === 'postgres') expect(() => db.exec('TRUNCATE audit_log')).toThrow(/append-only/);
    expect(audit.query({ limit: 10 })).toMatchObject([{ actor: 'op', action: 'alarms.ack', outcome: 'ok' }]);
  });

  it('keeps the rest of a batch when one entry cannot be written, on either backend', () => {
    const at = new Date('2030-03-04T08:00:00Z').toISOString();
    audit.recordMany([
      { at, actor: 'op', action: 'attendance.read', outcome: 'ok' },
      // No actor: refused by the table, logged, and nothing else lost with it.
      { at, actor: undefined as unknown as string, action: 'attendance.read', outcome: 'ok' },
      { at, actor: 'teacher', action: 'attendance.read', outcome: 'ok' },
    ]);
    expect(audit.query({ limit: 10 }).map((e) => e.actor)).toEqual(['teacher', 'op']);
  });
});
