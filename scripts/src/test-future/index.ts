// `npm run test:future`: the suite again with every process's clock moved years ahead through
// libfaketime, so that a test which compares the real clock with a date written into a fixture fails
// here, today, instead of on a fresh clone next year.
import { spawn, spawnSync } from 'node:child_process';
import { parseCommandLine, usageFailure } from '../command-line.js';
import { REPO_ROOT } from '../paths.js';

const USAGE = `usage: npm run test:future -- [--at DATE]... [--json] [-- VITEST-ARGS...]

Runs the tests (vitest, both projects, or the files and options after --) once per date with the
clock of vitest and of every process it starts (gateways, bridges, Mosquitto, pcscd, Chromium) read
through libfaketime: the clock starts at DATE and runs on from there. Every date a test uses must be
derived from a clock it sets or from the real clock; a date written into a fixture and compared with
the real clock fails here.

options:
  --at DATE    an ISO date and time with its offset; repeatable
               [2028-03-01T09:00:00+08:00 and 2031-09-01T07:30:00+08:00]
  --json       print the outcome of each date as JSON
  -h, --help

examples: npm run test:future
          npm run test:future -- --at 2040-02-29T12:00:00+08:00 -- test/cli`;

const DEFAULT_DATES = ['2028-03-01T09:00:00+08:00', '2031-09-01T07:30:00+08:00'];

/**
 * The processes a run starts inherit LD_PRELOAD and FAKETIME from vitest, so all of them read the
 * moved clock; the offset is relative to the real clock, so processes started later agree with it.
 * PostgreSQL alone is started without them (startPostgres: its timers do not fire under an offset).
 */
const UNDER_FAKETIME =
  'vitest and every child it starts (node, Mosquitto, pcscd, Chromium) inherit the fake clock; only PostgreSQL keeps the real one (its timers do not fire under an offset; only leases read its clock).';

interface Outcome {
  at: string;
  ok: boolean;
  exitCode: number;
  seconds: number;
}

function runAt(at: string, vitestArgs: string[], quiet: boolean): Promise<Outcome> {
  const offsetSeconds = Math.round((Date.parse(at) - Date.now()) / 1000);
  const offset = `${offsetSeconds >= 0 ? '+' : ''}${offsetSeconds}`;
  if (!quiet) process.stderr.write(`\n[test:future] ${at}: vitest with the clock moved by ${offset} s\n`);
  const started = performance.now();
  const child = spawn('faketime', ['-f', offset, 'npx', 'vitest', 'run', ...vitestArgs], {
    cwd: REPO_ROOT,
    stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit',
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const exitCode = code ?? (signal ? 1 : 0);
      resolve({
        at,
        ok: exitCode === 0,
        exitCode,
        seconds: Math.round((performance.now() - started) / 1000),
      });
    });
  });
}

async function main(): Promise<number> {
  const parsed = parseCommandLine(
    {
      options: {
        at: { type: 'string', multiple: true },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  const dates = values.at?.length ? values.at : DEFAULT_DATES;
  const bad = dates.filter((at) => Number.isNaN(Date.parse(at)) || !/[+-]\d\d:\d\d$|Z$/.test(at));
  if (bad.length) return usageFailure(`not a date and time with its offset: ${bad.join(', ')}`, USAGE);
  if (spawnSync('faketime', ['-f', '+0', 'true']).status !== 0) {
    process.stderr.write(
      "libfaketime is not installed. As root: apt-get install -y faketime (or run 'npm run test:future' as root)\n",
    );
    return 1;
  }
  if (!values.json) process.stderr.write(`[test:future] ${UNDER_FAKETIME}\n`);
  const outcomes: Outcome[] = [];
  for (const at of dates) outcomes.push(await runAt(at, positionals, Boolean(values.json)));
  if (values.json) process.stdout.write(`${JSON.stringify({ outcomes })}\n`);
  else {
    process.stdout.write('\n[test:future] date                        result   time\n');
    for (const o of outcomes)
      process.stdout.write(
        `[test:future] ${o.at.padEnd(27)} ${o.ok ? 'passed' : `FAILED (exit ${o.exitCode})`}  ${o.seconds} s\n`,
      );
  }
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

process.exitCode = await main();
