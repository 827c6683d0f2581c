import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import {
  type BridgeStore,
  CONNECTION_BOUNDS,
  IDLE_IN_TRANSACTION_MS,
  isConnectionFailure,
  isDatabaseUnreachable,
  isServerUnreachable,
  isStatementTimedOut,
  LOCK_WAIT_MS,
  migrateModule,
  openPostgresConnection,
  openPostgresStore,
  PostgresError,
  RECONNECT_WAITS_MS,
  STATEMENT_TIMEOUT_MS,
  withConnectionBounds,
} from '@educard/cloud-bridge';
import { chainedRecords, describeStoreConformance } from '@educard/cloud-bridge/store-conformance';
import { type Postgres, postgresBin, startPostgres, until } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let postgres: Postgres;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

let schemas = 0;
let current = '';

describeStoreConformance(
  'PostgreSQL',
  () => {
    current = postgres.createSchema(`conformance_${++schemas}`);
    return openPostgresStore(current);
  },
  () => openPostgresStore(current),
);

describe('PostgreSQL store through a server crash', () => {
  it('refuses commits while the server is down, keeps what it acknowledged, and reconnects after', async () => {
    const store = openPostgresStore(postgres.createSchema('crash'));
    try {
      const records = chainedRecords('gate-01', 6);
      expect(store.commitRecords('gate-01', 'school-1', records.slice(0, 3))).toMatchObject({ seq: 3 });
      await postgres.kill();
      const failure = (call: () => unknown) => {
        try {
          call();
        } catch (error) {
          return error;
        }
        throw new Error('the call succeeded with the server killed');
      };
      // The call that finds the connection gone, the next one that tries to connect again and is
      // refused, and the one after it that does not try before the first wait has passed: all
      // failures of the connection (the HTTP API answers 503 for them), only the last one at once.
      const found = failure(() => store.commitRecords('gate-01', 'school-1', records.slice(3)));
      const attempt = failure(() => store.cursor('gate-01'));
      const between = failure(() => store.cursor('gate-01'));
      expect([found, attempt, between].map(isConnectionFailure)).toEqual([true, true, true]);
      expect([found, attempt, between].map(isDatabaseUnreachable)).toEqual([false, false, true]);
      expect(attempt).toMatchObject({
        sqlState: '08001',
        message: expect.stringMatching(/^PostgreSQL is unreachable: connecting again failed \(/),
      });
      expect(between).toMatchObject({
        sqlState: '08001',
        message: expect.stringMatching(/PostgreSQL is unreachable: .*next attempt in 1 s/),
        nextAttemptInMs: expect.any(Number),
      });
      await postgres.start();
      // A call once the wait is over finds the connection broken and makes it again: the batch is
      // sent again, as a device resends what was not acknowledged.
      const started = performance.now();
      const committed = await until(
        () => {
          try {
            return store.commitRecords('gate-01', 'school-1', records);
          } catch {
            return undefined;
          }
        },
        { what: 'a commit after the server is back', everyMs: 100 },
      );
      expect(committed).toMatchObject({ seq: 6, inserted: 3 });
      // Within the waits of the attempts made while the server was starting: 1 s, 2 s, 4 s...
      expect(performance.now() - started).toBeLessThan(15_000);
      expect(store.queryEvents({ limit: 10 }).map((e) => e.record.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    } finally {
      store.close();
    }
  });
});

const WATCHDOG_S = 30;

/**
 * Another session holding `device`'s commit lock (the advisory lock a commit takes), inside a
 * transaction it then leaves open, as an instance that froze or lost the network mid-commit.
 * `foreign`: a session that is not the bridge's (an operator's psql), without its settings.
 */
function holdDeviceLock(url: string, device: string, foreign: boolean) {
  const session = openPostgresConnection(url);
  if (foreign) session.exec('SET idle_in_transaction_session_timeout = 0; SET lock_timeout = 0');
  const pid = session.prepare<[], { pid: number }>('SELECT pg_backend_pid() AS pid').get()?.pid;
  session.exec('BEGIN');
  session.prepare('SELECT pg_advisory_xact_lock(hashtext(?)) AS locked').get(device);
  // A commit blocked on the lock blocks this thread too, past any test timeout: should the bounds
  // fail, this ends the session after WATCHDOG_S from outside, so the test fails instead of hanging.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `sleep ${WATCHDOG_S}; exec ${postgresBin()}/psql -qAt -d "$URL" -c "SELECT pg_terminate_backend(${pid})"`,
    ],
    { detached: true, stdio: 'ignore', env: { ...process.env, URL: url } },
  );
  return {
    session,
    close() {
      if (watchdog.pid) process.kill(-watchdog.pid, 'SIGKILL');
      session.close();
    },
  };
}

/** How long `work` held this thread (the store's statements block it, as they block a bridge's loop). */
function timed<T>(work: () => T): { ms: number; outcome: T | Error } {
  const started = performance.now();
  let outcome: T | Error;
  try {
    outcome = work();
  } catch (error) {
    outcome = error as Error;
  }
  return { ms: performance.now() - started, outcome };
}

/** `check` with a store on a fresh schema, and `device`'s lock held by another session (holdDeviceLock). */
function withLockHeld(
  schema: string,
  device: string,
  foreign: boolean,
  check: (store: BridgeStore, holder: ReturnType<typeof holdDeviceLock>) => void,
): void {
  const url = postgres.createSchema(schema);
  const store = openPostgresStore(url);
  const holder = holdDeviceLock(url, device, foreign);
  try {
    check(store, holder);
  } finally {
    holder.close();
    store.close();
  }
}

describe('a PostgreSQL connection lost inside a transaction', () => {
  it('fails the rest of the transaction, its COMMIT included, commits none of it, and connects again after', () => {
    const url = postgres.createSchema('lost_in_transaction');
    const session = openPostgresConnection(url);
    const operator = openPostgresConnection(url);
    try {
      session.exec('CREATE TABLE taken (n integer)');
      const pid = session.prepare('SELECT pg_backend_pid() AS pid').pluck().get();
      const insert = session.prepare('INSERT INTO taken VALUES (?)');
      const failures: unknown[] = [];
      // A caller that goes on after a failed statement, as the group commit goes on to the next
      // device's batch: a statement after the loss must not run on a new connection, outside the
      // transaction, and be committed alone.
      expect(() =>
        session.transaction(() => {
          insert.run(1);
          // Ended by the server (pg_terminate_backend waits until it is gone), as a failover would.
          operator.prepare('SELECT pg_terminate_backend(?, 5000)').get(pid);
          for (const n of [2, 3]) {
            try {
              insert.run(n);
            } catch (error) {
              failures.push(error);
            }
          }
        })(),
      ).toThrow(/lost in this transaction: nothing of it is committed/);
      expect(failures.map(isConnectionFailure)).toEqual([true, true]);
      expect(failures[1]).toMatchObject({
        sqlState: '08006',
        message: expect.stringMatching(/lost in this transaction/),
      });
      // The next statement, outside the transaction, connects again.
      expect(session.prepare('SELECT count(*)::integer AS n FROM taken').pluck().get()).toBe(0);
      expect(session.prepare('SELECT pg_backend_pid() AS pid').pluck().get()).not.toBe(pid);
      // Transactions on the new connection nest as before: a failed inner one undoes only itself.
      session.transaction(() => {
        insert.run(4);
        expect(() =>
          session.transaction(() => {
            insert.run(5);
            throw new Error('inner');
          })(),
        ).toThrow('inner');
      })();
      expect(session.prepare('SELECT n FROM taken').pluck().all()).toEqual([4]);
    } finally {
      session.close();
      operator.close();
    }
  });
});

describe('PostgreSQL store and a lock held by a session that stopped', () => {
  it('waits out a bridge session frozen inside a transaction: the server ends it, its locks go with it', () =>
    withLockHeld('frozen_holder', 'gate-01', false, (store, frozen) => {
      const records = chainedRecords('gate-01', 3);
      const { ms, outcome } = timed(() => store.commitRecords('gate-01', 'school-1', records));
      expect(outcome).toMatchObject({ seq: 3, inserted: 3 });
      expect(ms).toBeGreaterThanOrEqual(IDLE_IN_TRANSACTION_MS - 500);
      expect(ms).toBeLessThan(LOCK_WAIT_MS);
      // The frozen instance, when it wakes, finds its session ended: what it was doing is not stored.
      expect(() => frozen.session.exec('COMMIT')).toThrow();
      expect(store.queryEvents({ limit: 10 }).map((e) => e.record.seq)).toEqual([1, 2, 3]);
    }));

  it('fails a commit after LOCK_WAIT_MS behind a lock held without end, and goes on with the others', () =>
    withLockHeld('held_lock', 'gate-02', true, (store, operator) => {
      const records = chainedRecords('gate-02', 2);
      const { ms, outcome } = timed(() => store.commitRecords('gate-02', 'school-1', records));
      expect(outcome).toBeInstanceOf(PostgresError);
      expect(outcome).toMatchObject({ sqlState: '55P03' });
      expect(ms).toBeGreaterThanOrEqual(LOCK_WAIT_MS - 500);
      expect(ms).toBeLessThan(LOCK_WAIT_MS + 5000);
      // Nothing of it was stored, and another device commits at once.
      expect(store.cursor('gate-02').seq).toBe(0);
      expect(store.commitRecords('gate-03', 'school-1', chainedRecords('gate-03', 1))).toMatchObject({
        seq: 1,
      });
      operator.session.exec('ROLLBACK');
      expect(store.commitRecords('gate-02', 'school-1', records)).toMatchObject({ seq: 2, inserted: 2 });
    }));
});

describe('PostgreSQL store and a statement that runs without end', () => {
  it('has the server cancel it after the statement timeout; the connection serves the next, and schema steps run unbounded', () => {
    const url = postgres.createSchema('slow_statements');
    const fallback = openPostgresConnection(url);
    expect(fallback.prepare('SHOW statement_timeout').pluck().get()).toBe(`${STATEMENT_TIMEOUT_MS / 1000}s`);
    fallback.close();
    const session = openPostgresConnection(url, { statementTimeoutMs: 1000 });
    try {
      const { ms, outcome } = timed(() => session.prepare('SELECT pg_sleep(3) AS slept').get());
      expect(outcome).toBeInstanceOf(PostgresError);
      expect(outcome).toMatchObject({ sqlState: '57014' });
      expect(isStatementTimedOut(outcome)).toBe(true);
      expect(isConnectionFailure(outcome)).toBe(false);
      expect(ms).toBeGreaterThanOrEqual(900);
      expect(ms).toBeLessThan(2500);
      expect(session.prepare('SELECT 1 AS one').get()).toEqual({ one: 1 });
      // A back-fill on a large store is a schema step: it runs as long as it takes.
      const step = timed(() =>
        migrateModule(session, 'slow', {
          sqlite: [],
          postgres: ['SELECT pg_sleep(1.5); CREATE TABLE slow_done (n INTEGER)'],
        }),
      );
      expect(step.outcome).toBe(0);
      expect(step.ms).toBeGreaterThanOrEqual(1400);
      expect(session.prepare('SELECT count(*)::int AS n FROM slow_done').pluck().get()).toBe(0);
      // And the bound is back for the statements after it.
      expect(isStatementTimedOut(timed(() => session.exec('SELECT pg_sleep(2)')).outcome)).toBe(true);
      expect(() => openPostgresConnection(url, { statementTimeoutMs: 0 })).toThrow(/positive whole number/);
    } finally {
      session.close();
    }
  });
});

/** This process's TCP sockets to `port`, as /proc/net/tcp shows them: which timer runs, and in how long. */
function timersOfSocketsTo(port: number): { timer: number; seconds: number }[] {
  const ours = new Set(
    readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        return [/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1]];
      } catch {
        return [];
      }
    }),
  );
  const ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString());
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length > 9 && ours.has(fields[9]))
    .filter((fields) => Number.parseInt(fields[2]?.split(':')[1] ?? '', 16) === port)
    .map((fields) => {
      const [timer, when] = (fields[5] ?? '0:0').split(':');
      return { timer: Number.parseInt(timer ?? '0', 16), seconds: Number.parseInt(when ?? '0', 16) / ticks };
    });
}

describe('PostgreSQL connections and a server gone from the network', () => {
  it("adds libpq's bounds for what the URL does not set, and keeps what it does", () => {
    const bounds = Object.entries(CONNECTION_BOUNDS).map(([name, value]) => `${name}=${value}`);
    expect(withConnectionBounds('postgres://bridge@db.example/educard')).toBe(
      `postgres://bridge@db.example/educard?${bounds.join('&')}`,
    );
    const own = withConnectionBounds('postgres://bridge@db/educard?sslmode=require&connect_timeout=3');
    expect(own.startsWith('postgres://bridge@db/educard?sslmode=require&connect_timeout=3&')).toBe(true);
    expect(own.match(/connect_timeout=/g)).toHaveLength(1);
    expect(own).toContain('tcp_user_timeout=20000');
    const all = `postgres://db/educard?${bounds.map((pair) => pair.replace(/=.*/, '=7')).join('&')}`;
    expect(withConnectionBounds(all)).toBe(all);
  });

  it('gives up on an address that accepts and never answers after connect_timeout, with the reason', async () => {
    // A hung server, or a proxy in front of a dead one: it takes the connection and says nothing. In
    // a process of its own, since the connection blocks this thread: should the bound fail, it hangs
    // up after WATCHDOG_S, so the test fails instead of hanging.
    const silent = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer((socket) => setTimeout(() => socket.destroy(), ${WATCHDOG_S * 1000}))
          .listen(0, '127.0.0.1', function () { console.log(this.address().port); });
        process.stdin.on('end', () => process.exit(0)).resume();`,
      ],
      // Its stdin ends with this process: a test process that dies leaves no server behind.
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    try {
      const port = Number(await new Promise<string>((resolve) => silent.stdout?.once('data', resolve)));
      const { ms, outcome } = timed(() =>
        openPostgresConnection(`postgresql://educard@127.0.0.1:${port}/educard`),
      );
      expect(outcome).toBeInstanceOf(Error);
      expect((outcome as Error).message).toMatch(/timeout/i);
      const bound = Number(CONNECTION_BOUNDS.connect_timeout) * 1000;
      expect(ms).toBeGreaterThanOrEqual(bound - 1000);
      expect(ms).toBeLessThan(bound + 5000);
    } finally {
      silent.kill('SIGKILL');
    }
  });

  it('fails statements at once between attempts to connect again, each wait twice the last, and is back after the wait', async () => {
    // A connection through a forwarder to the test server; told to, the forwarder cuts what it
    // carries and takes new connections without answering, as a server gone from the network. It
    // ends with its stdin, so a test process that dies leaves no forwarder behind.
    const forwarder = spawn(
      process.execPath,
      [
        '-e',
        `const net = require('node:net');
        let silent = false;
        const carried = new Set();
        net.createServer((socket) => {
          if (silent) return setTimeout(() => socket.destroy(), ${WATCHDOG_S * 1000});
          const server = net.connect(${postgres.port}, '127.0.0.1');
          socket.pipe(server).pipe(socket);
          socket.on('error', () => server.destroy());
          server.on('error', () => socket.destroy());
          carried.add(socket);
          socket.on('close', () => carried.delete(socket));
        }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });
        require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
          silent = line === 'silent';
          if (silent) for (const socket of carried) socket.destroy();
          console.log(line);
        }).on('close', () => process.exit(0));`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const lines = createInterface({ input: forwarder.stdout as Readable });
    const nextLine = () => new Promise<string>((resolve) => lines.once('line', resolve));
    const tell = async (mode: string) => {
      const heard = nextLine();
      forwarder.stdin?.write(`${mode}\n`);
      expect(await heard).toBe(mode);
    };
    const select = () => session.prepare('SELECT 1 AS one').pluck().get();
    const port = Number(await nextLine());
    // An operator's shorter connect_timeout, so that each attempt at the silent forwarder takes 2 s.
    const session = openPostgresConnection(
      `postgresql://educard@127.0.0.1:${port}/educard?connect_timeout=2`,
    );
    try {
      expect(select()).toBe(1);
      await tell('silent');
      const cut = timed(select).outcome;
      expect(cut).toBeInstanceOf(PostgresError);
      // Lost under the statement: the server may be there, and the next statement tries it.
      expect([isServerUnreachable(cut), isDatabaseUnreachable(cut)]).toEqual([false, false]);
      const attempt = timed(select);
      expect((attempt.outcome as Error).message).toMatch(/timeout/i);
      expect(attempt.ms).toBeGreaterThanOrEqual(1500);
      // The statement that tried to connect found the server unreachable itself.
      expect([isServerUnreachable(attempt.outcome), isDatabaseUnreachable(attempt.outcome)]).toEqual([
        true,
        false,
      ]);
      // Until the next attempt is due, a statement fails at once and says why.
      const between = timed(select);
      expect(between.outcome).toBeInstanceOf(PostgresError);
      expect(between.outcome).toMatchObject({ sqlState: '08001' });
      expect((between.outcome as Error).message).toMatch(
        /^PostgreSQL is unreachable: connecting failed 0 s ago, next attempt in 1 s \(connection to server .* failed: timeout expired\)$/,
      );
      expect(between.ms).toBeLessThan(200);
      expect([isServerUnreachable(between.outcome), isDatabaseUnreachable(between.outcome)]).toEqual([
        true,
        true,
      ]);
      await new Promise((resolve) => setTimeout(resolve, RECONNECT_WAITS_MS.first));
      // The second attempt fails too: the wait after it is twice the first.
      expect(timed(select).ms).toBeGreaterThanOrEqual(1500);
      expect(() => select()).toThrow(/next attempt in 2 s/);
      await tell('forward');
      const back = performance.now();
      expect(
        await until(
          () => {
            try {
              return select();
            } catch {
              return undefined;
            }
          },
          { what: 'a statement once the server can be reached', everyMs: 50 },
        ),
      ).toBe(1);
      expect(performance.now() - back).toBeLessThan(2 * RECONNECT_WAITS_MS.first + 1000);
    } finally {
      session.close();
      forwarder.kill('SIGKILL');
    }
  });

  it("probes an idle TCP connection after keepalives_idle, not after the system's two hours", async () => {
    const session = openPostgresConnection(`postgresql://educard@127.0.0.1:${postgres.port}/educard`);
    try {
      session.exec('SELECT 1');
      // Timer 2 is the keepalive timer; the system's default would put its first probe 7,200 s away.
      await expect
        .poll(() => timersOfSocketsTo(postgres.port), { timeout: 5000 })
        .toEqual([{ timer: 2, seconds: expect.any(Number) }]);
      const [socket] = timersOfSocketsTo(postgres.port);
      expect(socket?.seconds).toBeLessThanOrEqual(Number(CONNECTION_BOUNDS.keepalives_idle));
      expect(socket?.seconds).toBeGreaterThan(0);
    } finally {
      session.close();
    }
  });
});
