import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bridge, openPostgresConnection } from '@educard/cloud-bridge';
import type { Gateway } from '@educard/gateway';
import { type Postgres, postgresBin, startPostgres, until } from '@educard/scripts/support';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  admin,
  bridgeHealth,
  enrolledGatewayConfig,
  startBridge,
  startTappingGate,
} from '../support/bridge.js';
import { CentralTestServer, centralConfig, exportedRecords } from '../support/central-server.js';
import { educard } from '../support/cli.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

// A bridge on a PostgreSQL server of its own, which goes away and comes back: the bridge says so in
// /health (a load balancer's check, the gateways' doctor) and takes up its work when it is back.
let postgres: Postgres;
let bridge: Bridge | undefined;
let gate: Gateway | undefined;
let central: CentralTestServer | undefined;
let hook: WebhookReceiver | undefined;
const SECRET = 'parent-notices-secret-0123456789abcdef';
let dir: string;

let runs = 0;

beforeAll(async () => {
  postgres = await startPostgres();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bridge-database-outage-'));
});
afterEach(async () => {
  await gate?.stop();
  await bridge?.stop();
  await central?.stop();
  await hook?.down();
  [gate, bridge, central, hook] = [undefined, undefined, undefined, undefined];
  // A test that failed while the server was away leaves it running for the next.
  await postgres.start();
  await rm(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await postgres?.stop();
});

/** The seqs of `device`'s events in the central exchange's JSON lines files, in the files' order. */
async function exportedSeqs(outbox: string, device: string): Promise<number[]> {
  return (await exportedRecords(outbox)).filter((r) => r.device === device).map((r) => r.seq);
}

const health = () => bridgeHealth(bridge?.httpUrl as string);

// Every periodic duty on a short period, so that each runs against the missing database.
const DUTIES = {
  ops: { checkEverySeconds: 1 },
  rollouts: { tickMs: 50 },
  notices: {
    tickMs: 25,
    webhooks: [{ school: 'school-1', url: '', secret: SECRET, debounceMs: 0, batchWindowMs: 50 }],
  },
};

describe('a bridge whose PostgreSQL server goes away', () => {
  it.each<[string, (at: CentralTestServer) => unknown, (bridgeDir: string) => Promise<number[]>]>([
    [
      'over its API',
      (at) => centralConfig(at, { feed: { intervalMs: 1000 } }),
      async () => central?.deviceEvents('gate-west').map((event) => event.seq) ?? [],
    ],
    [
      'in files',
      () => ({ mode: 'file', files: { importIntervalMs: 50, exportIntervalMs: 50 } }),
      (bridgeDir) => exportedSeqs(join(bridgeDir, 'central', 'outbox'), 'gate-west'),
    ],
  ])(
    'with the central system %s: answers /health with 503 and the reason while it cannot reach it, keeps its broker up, and is back to work after',
    async (_mode, centralSettings, delivered) => {
      central = await CentralTestServer.start();
      hook = await WebhookReceiver.start(SECRET);
      const bridgeDir = join(dir, `bridge-${++runs}`);
      const lines: { level: number; msg: string; err?: { message?: string } }[] = [];
      const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
      bridge = await startBridge(
        bridgeDir,
        {
          store: { url: postgres.createSchema(`outage_${runs}`) },
          central: centralSettings(central),
          ...DUTIES,
          notices: { ...DUTIES.notices, webhooks: [{ ...DUTIES.notices.webhooks[0], url: hook.url }] },
        },
        { logger },
      );
      const _running = bridge;
      const config = await enrolledGatewayConfig(dir, bridge.httpUrl, 'gate-east');
      expect(await health()).toMatchObject({
        status: 200,
        body: { ok: true, database: { reachable: true } },
      });
      // A gate that keeps deciding and sending through the outage.
      const { gateway: west, tap, allStored } = await startTappingGate(bridge, dir, 'gate-west');
      gate = west;
      for (let i = 0; i < 3; i++) tap();
      await until(allStored, { what: "the gate's first taps stored" });
      const before = west.journal.stats().lastSeq;

      await postgres.kill();
      // The lease renewals (every 2 s) find the connection gone and fail to make it again.
      const down = await until(
        async () => {
          const answer = await health();
          return answer.status === 503 ? answer : undefined;
        },
        { what: '/health to say the database is unreachable' },
      );
      expect(down.body).toMatchObject({
        ok: false,
        database: { reachable: false, error: expect.stringMatching(/^connection to server/) },
      });
      expect(down.body.database.nextAttemptInMs).toBeGreaterThanOrEqual(0);
      // The API fails at once with the reason, instead of waiting for a server that is not there.
      const started = performance.now();
      const refused = await fetch(`${bridge.httpUrl}/v1/devices`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(await refused.json()).toMatchObject({
        error: 'database-unreachable',
        message: expect.stringMatching(/^PostgreSQL is unreachable: /),
      });
      expect(performance.now() - started).toBeLessThan(5000);

      for (let i = 0; i < 3; i++) tap();

      // A device connecting now is told to come back later (CONNACK 3), and the broker stays up.
      const doctor = await educard(config, ['doctor', '--json']);
      const { checks } = JSON.parse(doctor.stdout) as { checks: { id: string }[] };
      expect(checks.find((c) => c.id === 'bridge')).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(/answers, but cannot reach its database \(connection to server/),
      });
      expect(checks.find((c) => c.id === 'broker')).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(/answers, but cannot take devices now \(.*Server unavailable\)/),
      });
      expect((await health()).body).toMatchObject({ broker: { refused: { unavailable: 1 } } });
      // The gate's batch of the outage came, and failed without an acknowledgement: it comes again.
      await until(async () => (await health()).body.ingest.failed > 0, {
        what: "the outage's batch counted as failed",
      });
      expect(west.uplink?.status().connected).toBe(true);

      await postgres.start();
      await until(async () => (await health()).status === 200, {
        what: '/health once the server is back',
        timeoutMs: 45_000,
      });
      expect(await admin(bridge.httpUrl, '/v1/devices')).toMatchObject({
        devices: expect.arrayContaining([expect.objectContaining({ id: 'gate-east' })]),
      });
      // What the gate sent while the database was away: resent, stored once each, in order.
      await until(allStored, { what: 'the taps of the outage stored', timeoutMs: 30_000 });
      // Every duty ran against the missing database, on periods of 25 ms to 1 s; a line each time
      // would be hundreds. What is logged as an error is what said something new: the failures that
      // found the server gone, and each attempt to connect again.
      const errors = lines.filter((line) => line.level >= 50);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.length).toBeLessThan(30);
      const { lastSeq } = west.journal.stats();
      expect(lastSeq).toBeGreaterThanOrEqual(before + 3);
      // The central exchange, stopped with its lease while the database was away, goes on: every
      // event reaches the central system once, in order.
      const all = Array.from({ length: lastSeq }, (_, i) => i + 1);
      await until(async () => JSON.stringify(await delivered(bridgeDir)) === JSON.stringify(all), {
        what: 'every event of the gate at the central system',
        timeoutMs: 30_000,
      });
    },
  );
});

/**
 * An operator's psql session that takes the schema's devices table (every API request reads it) and
 * then runs `then` inside its transaction: resolves once the lock is held, with the session's exit
 * (wrapped: an async function would wait for a promise it returns).
 */
async function operatorHoldingDevices(
  schema: string,
  then: string,
): Promise<{ exited: Promise<number | null> }> {
  const operator = spawn(
    join(postgresBin(), 'psql'),
    [
      '-v',
      'ON_ERROR_STOP=1',
      '-qAt',
      '-d',
      postgres.url,
      '-c',
      `BEGIN; LOCK TABLE ${schema}.devices IN ACCESS EXCLUSIVE MODE; ${then} COMMIT;`,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = new Promise<number | null>((resolve) => operator.once('exit', resolve));
  const probe = openPostgresConnection(postgres.url);
  try {
    await until(
      () =>
        probe
          .prepare(
            `SELECT count(*)::int AS n FROM pg_locks WHERE granted AND mode = 'AccessExclusiveLock' AND relation = '${schema}.devices'::regclass`,
          )
          .pluck()
          .get() === 1,
      { what: "the operator's lock on the devices table", everyMs: 10 },
    );
  } finally {
    probe.close();
  }
  return { exited };
}

describe('an API request that finds the connection to PostgreSQL gone', () => {
  it('answers 503 with Retry-After, logs it once at error, and the next request connects again', async () => {
    const schema = `request_${++runs}`;
    const lines: { level: number; msg: string; err?: { message?: string; sqlState?: string } }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    bridge = await startBridge(
      join(dir, 'bridge'),
      { store: { url: postgres.createSchema(schema) } },
      { logger },
    );
    // An operator's session holds the devices table, waits for the bridge's statement to queue
    // behind it, and ends the bridge's session under that statement, as a server restarting or
    // failing over would. The statement is the request's: the bridge's connection is synchronous,
    // so nothing else of the bridge runs while it waits.
    const { exited: operatorDone } = await operatorHoldingDevices(
      schema,
      `DO $$ DECLARE waiting int; BEGIN
         FOR i IN 1..1000 LOOP
           SELECT pid INTO waiting FROM pg_locks WHERE NOT granted AND relation = '${schema}.devices'::regclass;
           EXIT WHEN waiting IS NOT NULL;
           PERFORM pg_sleep(0.01);
         END LOOP;
         PERFORM pg_terminate_backend(waiting);
       END $$;`,
    );
    const answer = await fetch(`${bridge.httpUrl}/v1/devices`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(await operatorDone).toBe(0);
    expect(answer.status).toBe(503);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await answer.json()).toMatchObject({ error: 'database-unreachable' });
    // Said once, at error. libpq reads the server's 57P01 (admin_shutdown) when it comes before the
    // close, and otherwise names no SQLSTATE: the connection's 08006 then.
    const said = lines.filter((line) => line.msg === 'request failed: the database connection');
    expect(said).toMatchObject([
      {
        level: 50,
        err: {
          sqlState: expect.stringMatching(/^(08006|57P01)$/),
          message: expect.stringMatching(/terminating connection|server closed the connection/),
        },
      },
    ]);
    // The next statement connects again: the request asked again is answered. Its sockets take the
    // lowest descriptor numbers free, the lost connection's among them: ending that connection only
    // now took its number off the event loop, and this request waited for ever.
    const again = await fetch(`${bridge.httpUrl}/v1/devices`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ devices: [] });
    expect(await health()).toMatchObject({ status: 200, body: { database: { reachable: true } } });
  });
});

describe('an API request whose statement runs past the statement timeout', () => {
  it('answers 503 database-busy after the timeout, logs it at error, and the connection serves the next', async () => {
    const schema = `slow_${++runs}`;
    const lines: { level: number; msg: string; err?: { sqlState?: string } }[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    bridge = await startBridge(
      join(dir, 'bridge'),
      { store: { url: postgres.createSchema(schema), statementTimeoutMs: 1000 } },
      { logger },
    );
    // An operator's session holds the devices table for 4 s: the request's statement waits for it
    // (the lock wait counts), and the server cancels it at 1 s, before the 10 s lock timeout.
    const { exited: operatorDone } = await operatorHoldingDevices(schema, 'SELECT pg_sleep(4);');
    const started = performance.now();
    const answer = await fetch(`${bridge.httpUrl}/v1/devices`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const tookMs = performance.now() - started;
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('5');
    expect(await answer.json()).toMatchObject({ error: 'database-busy' });
    expect(tookMs).toBeGreaterThanOrEqual(900);
    expect(tookMs).toBeLessThan(3500);
    expect(lines.filter((line) => line.msg.startsWith('request failed: a statement ran past'))).toMatchObject(
      [{ level: 50, err: { sqlState: '57014' } }],
    );
    expect(await operatorDone).toBe(0);
    // Nothing was lost with it: the same connection answers the request asked again.
    const again = await fetch(`${bridge.httpUrl}/v1/devices`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      signal: AbortSignal.timeout(10_000),
    });
    expect(again.status).toBe(200);
    expect(await health()).toMatchObject({ status: 200, body: { database: { reachable: true } } });
  });
});
