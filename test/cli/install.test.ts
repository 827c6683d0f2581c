import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../support/cli.js';
import { REPO_ROOT } from '../support/processes.js';

const run = promisify(execFile);
const INSTALL = join(REPO_ROOT, 'deploy', 'install-gateway.sh');
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'install-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('deploy/install-gateway.sh', () => {
  it('stages the gateway, the educard command, the directories and a unit systemd accepts', {
    timeout: 60_000,
  }, async () => {
    const { stdout } = await run('sh', [INSTALL, '--root', root, '--no-build', '--copy-modules']);
    expect(stdout).toContain('sudo educard init');

    const unit = await readFile(join(root, 'etc/systemd/system/educard-gateway.service'), 'utf8');
    expect(unit).toContain(
      `ExecStart=${process.execPath} --max-semi-space-size=4 /opt/educard/gateway/dist/main.js --config /etc/educard/gateway.json`,
    );
    expect(unit).not.toMatch(/@[A-Z]+@/);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^WatchdogSec=30$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    const verify = await run('systemd-analyze', [
      'verify',
      join(root, 'etc/systemd/system/educard-gateway.service'),
    ]).then(
      ({ stderr }) => stderr,
      (error: { stderr: string }) => `failed: ${error.stderr}`,
    );
    expect(verify).not.toMatch(/failed|error|Unknown/i);
    // The board's hardware watchdog is systemd's, beside the unit's; the GPIO chips go to the group gpio.
    expect(await readFile(join(root, 'etc/systemd/system.conf.d/educard-watchdog.conf'), 'utf8')).toMatch(
      /^\[Manager\]\nRuntimeWatchdogSec=14s$/m,
    );
    expect(await readFile(join(root, 'etc/udev/rules.d/60-educard-gpio.rules'), 'utf8')).toContain(
      'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"',
    );

    expect(await readlink(join(root, 'usr/local/bin/educard'))).toBe('/opt/educard/gateway/dist/cli/main.js');
    expect((await stat(join(root, 'etc/educard'))).mode & 0o7777).toBe(0o2750);
    expect((await stat(join(root, 'var/lib/educard'))).mode & 0o777).toBe(0o750);
    expect(JSON.parse(await readFile(join(root, 'opt/educard/package.json'), 'utf8')).workspaces).toEqual([
      'terminal-sdk',
      'gateway',
    ]);

    // The staged copy runs on its own: its command and its service entry point.
    const cli = await runCommand(join(root, 'opt/educard/gateway/dist/cli/main.js'), ['--version']);
    expect(cli).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const service = await runCommand(join(root, 'opt/educard/gateway/dist/main.js'), ['--help']);
    expect(service.code).toBe(0);
    expect(service.stdout).toContain('educard-gateway --config FILE');
  });

  it('answers --help and refuses an unknown option with exit code 2', async () => {
    expect((await run('sh', [INSTALL, '--help'])).stdout).toContain(
      'example: sudo deploy/install-gateway.sh',
    );
    const bad = await run('sh', [INSTALL, '--bogus']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown option: --bogus') });
  });
});
