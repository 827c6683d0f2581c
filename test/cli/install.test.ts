import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../support/cli.js';
import { REPO_ROOT } from '../support/processes.js';

const run = promisify(execFile);
const INSTALL = join(REPO_ROOT, 'deploy', 'install-gateway.sh');
const INSTALL_BRIDGE = join(REPO_ROOT, 'deploy', 'install-bridge.sh');
/** What systemd-analyze says of a unit file: nothing when it accepts it. */
const verifyUnit = (...paths: string[]) =>
  run('systemd-analyze', ['verify', ...paths]).then(
    ({ stderr }) => stderr,
    (error: { stderr: string }) => `failed: ${error.stderr}`,
  );
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
      `ExecStart=${process.execPath} ${GATEWAY_NODE_FLAGS.join(' ')} /opt/educard/current/gateway/dist/main.js --config \${EDUCARD_CONFIG}`,
    );
    // The update guards run from the committed release; a release that cannot start goes back.
    expect(unit).toContain(
      `ExecStartPre=${process.execPath} /opt/educard/committed/gateway/dist/updates/guard-main.js start`,
    );
    expect(unit).toMatch(/^OnFailure=educard-gateway-rollback\.service$/m);
    expect(unit).toMatch(/^StartLimitBurst=5$/m);
    expect(unit).not.toMatch(/@[A-Z]+@/);
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^WatchdogSec=30$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(
      await verifyUnit(
        join(root, 'etc/systemd/system/educard-gateway.service'),
        join(root, 'etc/systemd/system/educard-gateway-rollback.service'),
      ),
    ).not.toMatch(/failed|error|Unknown/i);
    // The board's hardware watchdog is systemd's, beside the unit's; the GPIO chips go to the group gpio.
    expect(await readFile(join(root, 'etc/systemd/system.conf.d/educard-watchdog.conf'), 'utf8')).toMatch(
      /^\[Manager\]\nRuntimeWatchdogSec=14s$/m,
    );
    expect(await readFile(join(root, 'etc/udev/rules.d/60-educard-gpio.rules'), 'utf8')).toContain(
      'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"',
    );

    expect(await readlink(join(root, 'usr/local/bin/educard'))).toBe(
      '/opt/educard/current/gateway/dist/cli/main.js',
    );
    // Releases side by side, the links naming the one installed.
    expect(await readlink(join(root, 'opt/educard/current'))).toBe('releases/0.1.0');
    expect(await readlink(join(root, 'opt/educard/committed'))).toBe('releases/0.1.0');
    expect((await stat(join(root, 'etc/educard'))).mode & 0o7777).toBe(0o2751);
    expect((await stat(join(root, 'var/lib/educard'))).mode & 0o777).toBe(0o750);
    // With the checkout's reviewed install scripts: npm 12 runs no other, so a rebuild there builds them.
    const installed = JSON.parse(await readFile(join(root, 'opt/educard/current/package.json'), 'utf8'));
    expect(installed.workspaces).toEqual(['terminal-sdk', 'gateway']);
    expect(installed.allowScripts).toEqual(
      JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')).allowScripts,
    );

    // The staged copy runs on its own: its command and its service entry point.
    const cli = await runCommand(join(root, 'opt/educard/current/gateway/dist/cli/main.js'), ['--version']);
    expect(cli).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const service = await runCommand(join(root, 'opt/educard/current/gateway/dist/main.js'), ['--help']);
    expect(service.code).toBe(0);
    expect(service.stdout).toContain('educard-gateway --config FILE');
  });

  it('takes only production npm packages when it copies them: no test runner, no bundler', async () => {
    const modules = join(root, 'opt/educard/current/node_modules');
    expect(await readlink(join(modules, '@educard/terminal-sdk'))).toBe('../../terminal-sdk');
    for (const tool of ['vitest', 'vite', 'typescript', '@biomejs', 'playwright-core', 'better-sqlite3'])
      await expect(stat(join(modules, tool)), tool).rejects.toThrow(/ENOENT/);
    for (const needed of ['johnny-five', 'mqtt', 'pino', 'prom-client', 'aedes'])
      expect((await stat(join(modules, needed))).isDirectory(), needed).toBe(true);
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

describe('deploy/install-bridge.sh', () => {
  let bridgeRoot: string;
  beforeAll(async () => {
    bridgeRoot = await mkdtemp(join(tmpdir(), 'install-bridge-'));
  });
  afterAll(async () => {
    await rm(bridgeRoot, { recursive: true, force: true });
  });

  it('stages the bridge, its command, its directories and a hardened notify unit systemd accepts; no keys in the image', {
    timeout: 60_000,
  }, async () => {
    const { stdout } = await run('sh', [
      INSTALL_BRIDGE,
      '--root',
      bridgeRoot,
      '--no-build',
      '--copy-modules',
    ]);
    expect(stdout).toContain('prepare-host.sh bridge');
    const unitPath = join(bridgeRoot, 'etc/systemd/system/educard-bridge.service');
    const unit = await readFile(unitPath, 'utf8');
    expect(unit).toContain(
      `ExecStart=${process.execPath} /opt/educard/cloud-bridge/dist/cli/main.js serve --config /etc/educard/bridge.json`,
    );
    expect(unit).not.toMatch(/@[A-Z]+@/);
    for (const line of [
      'Type=notify',
      'NotifyAccess=all',
      'WatchdogSec=30',
      'Restart=on-failure',
      'User=educard-bridge',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/educard-bridge',
      'PrivateDevices=yes',
      'CapabilityBoundingSet=',
      'StandardOutput=journal',
    ])
      expect(unit).toMatch(new RegExp(`^${line}$`, 'm'));
    expect(await verifyUnit(unitPath)).not.toMatch(/failed|error|Unknown/i);

    expect(await readlink(join(bridgeRoot, 'usr/local/bin/educard-bridge'))).toBe(
      '/opt/educard/cloud-bridge/dist/cli/main.js',
    );
    expect((await stat(join(bridgeRoot, 'var/lib/educard-bridge'))).mode & 0o777).toBe(0o750);
    // An image carries no bridge's keys or tokens: init runs on the machine that will serve.
    await expect(stat(join(bridgeRoot, 'etc/educard/bridge.json'))).rejects.toThrow(/ENOENT/);
    expect(await readdir(join(bridgeRoot, 'var/lib/educard-bridge'))).toEqual([]);

    const cli = await runCommand(join(bridgeRoot, 'opt/educard/cloud-bridge/dist/cli/main.js'), [
      '--version',
    ]);
    expect(cli).toMatchObject({ code: 0, stdout: '0.1.0\n' });
    const help = await runCommand(join(bridgeRoot, 'opt/educard/cloud-bridge/dist/cli/main.js'), [
      'serve',
      '--help',
    ]);
    expect(help.stdout).toContain('educard-bridge serve --config /etc/educard/bridge.json');
  });

  it('answers --help with the init flags it passes on, and refuses an unknown option with exit code 2', async () => {
    expect((await run('sh', [INSTALL_BRIDGE, '--help'])).stdout).toContain(
      'example: sudo deploy/install-bridge.sh',
    );
    const bad = await run('sh', [INSTALL_BRIDGE, '--bogus']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown option: --bogus') });
  });
});
