import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { ReleaseRoot } from '@educard/gateway';
import { trialReleaseRoot } from '@educard/gateway/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

/**
 * The update guard as systemd runs it: `gateway/dist/updates/guard-main.js`, the entry the units name,
 * run as a child process on a release root with a release on trial (the real clock: the deadline is
 * derived from it).
 */
const GUARD = join(REPO_ROOT, 'gateway/dist/updates/guard-main.js');
const run = promisify(execFile);

let dir: string;
let config: string;
let root: ReleaseRoot;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function guard(
  args: string[],
  env: Record<string, string> = {},
  nodeFlags: string[] = [],
): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...nodeFlags, GUARD, ...args], {
      env: { ...process.env, EDUCARD_CONFIG: config, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const lineOf = (ran: Ran) => JSON.parse(ran.stdout.trim()) as Record<string, unknown>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'guard-entry-'));
  root = await trialReleaseRoot(join(dir, 'opt'), new Date(Date.now() + 10 * 60_000));
  config = join(dir, 'gateway.json');
  // The root relative to the config file, as the gateway takes it.
  await writeFile(
    config,
    JSON.stringify({
      device: { id: 'gate-1', school: 'school-1' },
      dataDir: 'data',
      station: { id: 'gate-main', zone: 'main-gate' },
      update: { root: 'opt', maxStarts: 1 },
    }),
  );
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the update guard entry systemd runs', () => {
  it('counts the start of a release on trial, writes down how it stopped, and goes back on the next start', async () => {
    const started = await guard(['start']);
    expect(started.code).toBe(0);
    expect(lineOf(started)).toMatchObject({
      name: 'educard-update-guard',
      action: 'counted',
      version: '1.1.0',
    });
    expect((await root.readState()).starts).toBe(1);

    const stopped = await guard(['stop'], {
      SERVICE_RESULT: 'exit-code',
      EXIT_CODE: 'exited',
      EXIT_STATUS: '3',
    });
    expect(lineOf(stopped)).toMatchObject({ action: 'counted', msg: 'it exited with status 3' });

    const again = await guard(['start']);
    expect(again.code).toBe(0);
    expect(lineOf(again)).toMatchObject({ level: 40, action: 'rolled-back', phase: 'rolled-back' });
    expect(await root.link('current')).toBe('1.0.0');
    expect(await root.readState()).toMatchObject({
      phase: 'rolled-back',
      stage: 'start',
      reason: 'it stopped before its commit check passed (it exited with status 3)',
      failed: ['r-1/1.1.0'],
    });
  });

  it('puts the committed release back after the start limit (the OnFailure= unit), with --config', async () => {
    const failed = await guard(['failed', '--config', config], { EDUCARD_CONFIG: join(dir, 'absent.json') });
    expect(failed.code).toBe(0);
    expect(lineOf(failed)).toMatchObject({ action: 'rolled-back' });
    expect(await root.link('current')).toBe('1.0.0');
    expect((await root.readState()).reason).toMatch(/start limit/);
  });

  it('counts a start when the config is wrong outside its update section: the gateway reports that', async () => {
    await writeFile(config, JSON.stringify({ device: { id: 'not an id!' }, update: { root: 'opt' } }));
    expect(lineOf(await guard(['start']))).toMatchObject({ action: 'counted' });
  });

  it('does nothing on a gateway not installed in a release root', async () => {
    await writeFile(config, JSON.stringify({ update: { root: 'elsewhere' } }));
    const ran = await guard(['start']);
    expect(ran).toMatchObject({ code: 0, stdout: '' });
  });

  it('refuses bad usage and a bad update section with status 2, touching nothing', async () => {
    const help = await guard(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: guard-main.js start|stop|failed');
    const sideways = await guard(['sideways']);
    expect(sideways.code).toBe(2);
    expect(sideways.stderr).toContain('the guard takes "start", "stop" or "failed"');
    expect((await guard(['start', '--colour'])).code).toBe(2);
    const missing = await guard(['start'], { EDUCARD_CONFIG: join(dir, 'absent.json') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/absent\.json is not valid: cannot be read \(ENOENT\)/);
    await writeFile(config, JSON.stringify({ update: { root: 'opt', maxStarts: 'many' } }));
    const wrong = await guard(['start']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/update\.maxStarts/);
    expect((await root.readState()).starts).toBe(0);
  });

  it('fails with status 1 on a damaged update state, and says where', async () => {
    await writeFile(join(root.dir, 'update-state.json'), '{"phase": "trial", "starts": -');
    const ran = await guard(['start']);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/the update state in .* is damaged/);
  });

  it('loads the guard alone: no CLI framework, hardware, broker client, schema library or the SDK', async () => {
    // A module hook that writes down every module the entry imports, as it resolves it.
    const loaded = join(dir, 'loaded.txt');
    const hooks = join(dir, 'hooks.mjs');
    await writeFile(
      hooks,
      `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const found = await next(specifier, context);
  appendFileSync(${JSON.stringify(loaded)}, found.url + '\\n');
  return found;
}`,
    );
    const register = join(dir, 'register.mjs');
    await writeFile(
      register,
      `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
    );
    expect((await guard(['start'], {}, ['--import', pathToFileURL(register).href])).code).toBe(0);
    const urls = (await readFile(loaded, 'utf8')).trim().split('\n');
    expect(urls.some((url) => url.endsWith('/gateway/dist/updates/guard.js'))).toBe(true);
    const heavy = urls.filter((url) =>
      /\/(commander|johnny-five|mqtt|ws|@serialport|zod)\/|\/gateway\/dist\/(cli|runtime|uplink|readers|io)\/|\/terminal-sdk\/dist\/(index|contract\/.*)\.js$|\/gateway\/dist\/(updates|config|log)\/index\.js$/.test(
        url,
      ),
    );
    expect(heavy).toEqual([]);
  });
});
