import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONNECTION_BOUNDS,
  LeaseTable,
  LoanLedger,
  livePostgresDump,
  makeBackup,
  newBackupKey,
  openPostgresStore,
  openSealedFile,
  postgresDump,
  RETENTION_LEASE,
  RestoreRefused,
  Retention,
  RetentionConfig,
  restorePostgres,
  withSearchPath,
} from '@educard/cloud-bridge';
import { libraryRecords } from '@educard/cloud-bridge/store-conformance';
import { type Postgres, startPostgres } from '@educard/scripts/support';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The store on the real clock: the events' times are derived from it, a third of them past the
// 180-day rule for gate passages.

const DAY = 86_400_000;
const SCHEMA = 'bridge_live';
let postgres: Postgres;
let dir: string;

const psql = (url: string, sql: string) =>
  execFileSync('psql', ['-v', 'ON_ERROR_STOP=1', '-qAt', '-d', url, '-c', sql]).toString();
/** The URL of `database` on the test server, its connections on the store's schema. */
const urlOf = (database: string) =>
  withSearchPath(postgres.url.replace('/educard?', `/${database}?`), SCHEMA);

beforeAll(async () => {
  postgres = await startPostgres();
  dir = await mkdtemp(join(tmpdir(), 'pg-backup-'));
});
afterAll(async () => {
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** `count` passages of gate-1 by `persons` pupils, the first `old` of them 400 days old (past the 180-day rule), the rest a day. */
const passages = (now: number, count: number, old: number, persons: number) =>
  chainRecords(
    'gate-1',
    Array.from({ length: count }, (_, i) => ({
      type: 'gate.decision',
      at: new Date(now - (i < old ? 400 : 1) * DAY + i * 1000).toISOString(),
      data: gateDecisionData({ personId: `p${i % persons}` }),
    })),
  );

describe('backup of a PostgreSQL store', () => {
  it('is pg_dump of the store after the live purge, sealed to the key; pg_restore gives a fresh store the same rows', async () => {
    const live = postgres.createSchema(SCHEMA);
    const store = openPostgresStore(live);
    const now = Date.now();
    const records = passages(now, 30, 10, 4);
    store.commitRecords('gate-1', 'school-1', records);
    const audited: unknown[] = [];
    const retention = new Retention({
      db: store.database,
      config: RetentionConfig.parse({ purgeShare: 1 }),
      central: 'off',
      audit: { record: (entry) => audited.push(entry) },
      logger: pino({ level: 'silent' }),
      now: () => new Date(now),
    });
    const purge = async () => ({ removed: (await retention.runOnce()).removed });
    const { identity, recipient } = await newBackupKey();
    const file = join(dir, 'bridge.age');
    let report: Awaited<ReturnType<typeof makeBackup>>;
    try {
      report = await makeBackup(postgresDump({ url: live, purge }), file, recipient);
    } finally {
      store.close();
    }
    expect(report).toMatchObject({ kind: 'postgres', events: 20, purged: 10 });
    // The live purge is the bridge's own, audited as its hourly run is.
    expect(audited).toMatchObject([{ action: 'retention.purge', detail: { events: 10 } }]);
    // Sealed: neither the archive's magic nor a person id shows, and another key does not open it.
    const sealed = await readFile(file, 'latin1');
    expect(sealed).not.toContain('PGDMP');
    expect(sealed).not.toContain('"personId"');
    await expect(
      openSealedFile(file, join(dir, 'wrong.dump'), (await newBackupKey()).identity),
    ).rejects.toThrow();

    const archive = join(dir, 'bridge.dump');
    await openSealedFile(file, archive, identity);
    psql(postgres.url, 'CREATE DATABASE restored');
    const fresh = urlOf('restored');
    const at = new Date(now);
    expect(await restorePostgres({ archive, url: fresh, replace: false, now: at })).toMatchObject({
      events: 20,
      schema: SCHEMA,
    });
    const restored = openPostgresStore(fresh);
    try {
      const seqs = restored.queryEvents({ limit: 100 }).map((e) => e.record.seq);
      expect(seqs).toEqual(records.slice(10).map((r) => r.seq));
      expect(restored.cursor('gate-1')).toEqual({ seq: 30, hash: records[29]?.hash });
    } finally {
      restored.close();
    }
    // A store already there is kept aside, and only when asked.
    await expect(restorePostgres({ archive, url: fresh, replace: false, now: at })).rejects.toThrow(
      RestoreRefused,
    );
    const again = await restorePostgres({ archive, url: fresh, replace: true, now: at });
    expect(again).toMatchObject({
      events: 20,
      replaced: expect.stringMatching(/^bridge_live_replaced_\d{14}$/),
    });
    expect(psql(fresh, `SELECT count(*) FROM ${again.replaced}.events`).trim()).toBe('20');
    // An archive cut short in its data lists its contents but fails to restore: the store set aside
    // comes back.
    const whole = await readFile(archive);
    const cut = join(dir, 'cut.dump');
    await writeFile(cut, whole.subarray(0, whole.length - 64));
    await expect(
      restorePostgres({ archive: cut, url: fresh, replace: true, now: new Date(now + 60_000) }),
    ).rejects.toThrow();
    expect(psql(fresh, 'SELECT count(*) FROM events').trim()).toBe('20');
  });

  it('purges the live store only under the retention lease: an instance holding it keeps the purge its own', async () => {
    const url = postgres.createSchema('bridge_leased');
    const store = openPostgresStore(url);
    const now = Date.now();
    const records = passages(now, 6, 2, 6);
    store.commitRecords('gate-1', 'school-1', records);
    // A book lent 500 days ago and back 20 days later: past the library's retention (365 days).
    new LoanLedger(store);
    const ago = (days: number) => new Date(now - days * 86_400_000).toISOString();
    const loan = { loanId: 'desk-1:1', itemId: 'B1', personId: 'p1', dueAt: ago(479) };
    store.commitRecords(
      'desk-1',
      'school-1',
      libraryRecords('desk-1', [
        ['library.checkout', ago(500), loan],
        ['library.return', ago(480), { loanId: 'desk-1:1', itemId: 'B1' }],
      ]),
    );
    const loans = () => psql(url, 'SELECT count(*) FROM loans').trim();
    const leases = new LeaseTable(store.database);
    const { recipient } = await newBackupKey();
    const backup = (file: string) =>
      makeBackup(
        livePostgresDump({
          url,
          retention: RetentionConfig.parse({}),
          central: 'off',
          now: () => new Date(now),
          leaseTtlMs: 60_000,
        }),
        join(dir, file),
        recipient,
      );
    try {
      expect(leases.take(RETENTION_LEASE, 'instance-a', 60_000)).toBeDefined();
      expect(await backup('held.age')).toMatchObject({ events: 8, purged: 0, purgeHeldBy: 'instance-a' });
      expect(loans()).toBe('1');
      leases.release(RETENTION_LEASE, 'instance-a');
      const purged = await backup('free.age');
      expect(purged).toMatchObject({ events: 4, purged: 4 });
      expect(purged.purgeHeldBy).toBeUndefined();
      // The loan went with its events, as the bridge's own purge would have it go.
      expect(loans()).toBe('0');
      expect(
        psql(url, "SELECT target FROM audit_log WHERE action = 'retention.purge' ORDER BY target").trim(),
      ).toBe(['gate.decision', 'library.checkout', 'library.loan', 'library.return'].join('\n'));
      // Given back at its end: the instances' own purge takes it at once.
      expect(leases.get(RETENTION_LEASE)).toBeUndefined();
    } finally {
      store.close();
    }
  });
  it("gives up on a server that stops answering after the bridge's connect_timeout, instead of holding the backup", async () => {
    // The client tools run as child processes, so this process forwards their connections to the
    // test server: psql's (the store's schema) passes, pg_dump's is taken and never answered, as by
    // a server gone from the network.
    const url = postgres.createSchema('bridge_unanswered');
    openPostgresStore(url).close();
    const held: Socket[] = [];
    let connections = 0;
    const forwarder = createServer((socket) => {
      if (++connections > 1) {
        held.push(socket);
        return;
      }
      const server = connect(postgres.port, '127.0.0.1');
      socket.pipe(server).pipe(socket);
      socket.on('error', () => server.destroy());
      server.on('error', () => socket.destroy());
    });
    await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
    const { port } = forwarder.address() as AddressInfo;
    const { recipient } = await newBackupKey();
    const started = performance.now();
    try {
      const outcome = await makeBackup(
        postgresDump({
          url: withSearchPath(`postgresql://educard@127.0.0.1:${port}/educard`, 'bridge_unanswered'),
          purge: async () => ({ removed: 0 }),
        }),
        join(dir, 'unanswered.age'),
        recipient,
      ).catch((error: Error) => error);
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toMatch(/pg_dump[\s\S]*timeout expired/);
      const seconds = (performance.now() - started) / 1000;
      expect(seconds).toBeGreaterThanOrEqual(Number(CONNECTION_BOUNDS.connect_timeout) - 1);
      expect(seconds).toBeLessThan(Number(CONNECTION_BOUNDS.connect_timeout) + 10);
      expect(connections).toBe(2);
    } finally {
      for (const socket of held) socket.destroy();
      forwarder.close();
    }
  });
});
