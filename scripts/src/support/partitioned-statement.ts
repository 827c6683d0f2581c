/**
 * A bridge's PostgreSQL connection cut off from its server mid-session, in a network namespace of
 * its own (started under `unshare -n` by `statementIntoPartition`): a PostgreSQL server and one
 * connection to it over TCP on the namespace's loopback, a first statement answered, then the
 * loopback taken down, so that what the connection sends next is never acknowledged, as across a
 * network partition, and a second statement sent. Says on stdout, one JSON line each, where the
 * server's files are (`{"serverDir":…}`, for whoever has to kill it) and how the statement ended:
 * `{"failedAfterMs":…,"error":"…"}` or `{"answeredAfterMs":…}`.
 * Run: node partitioned-statement.js
 */
import { execFileSync } from 'node:child_process';
import { openPostgresConnection } from '@educard/cloud-bridge';
import { startPostgres } from './postgres.js';

execFileSync('ip', ['link', 'set', 'lo', 'up']);
const postgres = await startPostgres();
process.stdout.write(`${JSON.stringify({ serverDir: postgres.dir })}\n`);
const connection = openPostgresConnection(`postgresql://educard@127.0.0.1:${postgres.port}/educard`);
connection.prepare('SELECT 1').get();
execFileSync('ip', ['link', 'set', 'lo', 'down']);
const started = performance.now();
const since = () => Math.round(performance.now() - started);
let outcome: object;
try {
  connection.prepare('SELECT 2').get();
  outcome = { answeredAfterMs: since() };
} catch (error) {
  outcome = { failedAfterMs: since(), error: (error as Error).message };
}
process.stdout.write(`${JSON.stringify(outcome)}\n`);
execFileSync('ip', ['link', 'set', 'lo', 'up']);
connection.close();
await postgres.stop();
