import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withSearchPath } from '@educard/cloud-bridge';
import { exited, freePort } from './mosquitto.js';
import { until } from './until.js';

export const POSTGRES_APT_COMMAND = 'apt-get install -y postgresql libpq-dev';

/** Where Debian's package puts a major version's server and client programs. */
const DEBIAN_POSTGRES = '/usr/lib/postgresql';

/**
 * The folder of PostgreSQL's programs (initdb, postgres, psql): `POSTGRES_BIN` if set, else the newest
 * major version Debian's `postgresql` installed (15 on Debian 12, 17 on Debian 13; the store needs 15 or
 * later).
 */
export function postgresBin(): string {
  const chosen = process.env.POSTGRES_BIN;
  if (chosen) {
    if (!existsSync(join(chosen, 'postgres')))
      throw new Error(`POSTGRES_BIN=${chosen} holds no postgres program`);
    return chosen;
  }
  const majors = existsSync(DEBIAN_POSTGRES)
    ? readdirSync(DEBIAN_POSTGRES)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(DEBIAN_POSTGRES, name, 'bin', 'postgres')))
        .map(Number)
        .sort((a, b) => b - a)
    : [];
  const newest = majors[0];
  if (newest === undefined || newest < 15)
    throw new Error(
      `PostgreSQL 15 or later is not installed${newest ? ` (only ${newest})` : ''}: run ${POSTGRES_APT_COMMAND}`,
    );
  return join(DEBIAN_POSTGRES, String(newest), 'bin');
}

export interface Postgres {
  /** A libpq connection URL to the `educard` database, over the unix socket in the data directory. */
  url: string;
  port: number;
  /** Its data directory and socket, removed by `stop`. */
  dir: string;
  readonly pid: number | undefined;
  /** What the server has logged so far. */
  log(): string;
  /**
   * A fresh empty schema in the `educard` database, and a URL whose connections use it (one per
   * test, so tests do not share rows: a schema costs far less than a database).
   */
  createSchema(name: string): string;
  /** SIGKILL, as a host failure (its data stays: `start` recovers it). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data, and waits until it takes connections. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  stop(): Promise<void>;
}

/**
 * The environment without libfaketime (`npm run test:future`): with a clock moved by an offset,
 * PostgreSQL's own timers (lock_timeout, idle_in_transaction_session_timeout) never fire. The
 * server may keep the real clock: only the leases read its clock, and only against itself.
 */
function realClockEnv(): NodeJS.ProcessEnv {
  const { LD_PRELOAD: _preload, FAKETIME: _faketime, ...env } = process.env;
  return env;
}

/**
 * PostgreSQL from Debian's package (`postgresBin`) as a child process with a throwaway data
 * directory: initdb, then `postgres` on a free port with its unix socket in that directory, stopped by
 * pid and the directory removed. Root cannot run either, so as root both run as the `postgres` user the
 * package makes. C collation: the store compares ISO times and ids as text, byte by byte.
 */
export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'educard-pg-'));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'educard', '--auth=trust', '--locale=C', '--encoding=UTF8', '--no-instructions'],
    { stdio: 'pipe', ...owner },
  );
  let child: ChildProcess | undefined;
  let output = '';
  let port = 0;
  const url = (database: string) => `postgresql://educard@/${database}?host=${dir}&port=${port}`;
  const psql = (database: string, sql: string) =>
    execFileSync(join(bin, 'psql'), ['-v', 'ON_ERROR_STOP=1', '-qAt', '-d', url(database), '-c', sql], {
      stdio: 'pipe',
    }).toString();
  const launch = async () => {
    output = '';
    const started = spawn(
      join(bin, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        `unix_socket_directories=${dir}`,
        // Several bridge instances and a test's own connections.
        '-c',
        'max_connections=200',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: realClockEnv(), ...owner },
    );
    child = started;
    const keep = (chunk: Buffer) => {
      output = (output + String(chunk)).slice(-200_000);
    };
    started.stdout?.on('data', keep);
    started.stderr?.on('data', keep);
    await until(
      async () => {
        if (started.exitCode !== null) throw new Error(`postgres exited: ${output.slice(-2000)}`);
        return existsSync(join(dir, `.s.PGSQL.${port}`)) && /ready to accept connections/.test(output);
      },
      { what: 'postgres ready', timeoutMs: 60_000, everyMs: 50 },
    );
  };
  // A free port may be taken by another process before postgres binds it: then start on another.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      psql('postgres', 'CREATE DATABASE educard');
      break;
    } catch (error) {
      if (child) await stopChild(child);
      if (attempt === 3 || !/already in use/.test(output)) {
        await rm(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  return {
    url: url('educard'),
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    log: () => output,
    createSchema(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a schema name: ${name}`);
      psql('educard', `CREATE SCHEMA ${name}`);
      return withSearchPath(url('educard'), name);
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited(child);
    },
    async start() {
      if (child && child.exitCode === null && child.signalCode === null) return;
      await launch();
    },
    async stop() {
      if (child) await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing waits for clients to leave.
  child.kill('SIGINT');
  await exited(child, 30_000);
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres']).toString().trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error(`no postgres user to run PostgreSQL as (root cannot): run ${POSTGRES_APT_COMMAND}`);
  }
}
