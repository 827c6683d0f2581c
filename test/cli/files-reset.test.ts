import { access, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { stripVTControlCharacters as plain } from 'node:util';
import { spawn as spawnPty } from 'node-pty';
import { afterEach, describe, expect, it } from 'vitest';
import { EDUCARD, educard } from '../support/cli.js';
import { REPO_ROOT } from '../support/processes.js';
import { provisioned } from './files-fixture.js';

const made: string[] = [];
afterEach(async () => {
  for (const dir of made.splice(0)) await rm(dir, { recursive: true, force: true });
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Answers the confirmation on a real terminal; resolves with the exit code and what was shown. */
function answerOnTerminal(args: string[], answer: string): Promise<{ code: number; screen: string }> {
  return new Promise((resolve, reject) => {
    const pty = spawnPty(process.execPath, [join(REPO_ROOT, EDUCARD), ...args], {
      cols: 200,
      rows: 40,
      cwd: REPO_ROOT,
      env: { ...process.env, TERM: 'xterm' } as Record<string, string>,
    });
    let screen = '';
    let answered = false;
    const timer = setTimeout(() => {
      pty.kill();
      reject(new Error(`no prompt: ${plain(screen)}`));
    }, 20_000);
    pty.onData((data) => {
      screen += data;
      if (!answered && /\(y\/N\)/.test(plain(screen))) {
        answered = true;
        pty.write(answer);
      }
    });
    pty.onExit(({ exitCode }) => {
      clearTimeout(timer);
      resolve({ code: exitCode, screen: plain(screen) });
    });
  });
}

describe('educard factory-reset', () => {
  it('refuses while events are undelivered, naming how many; --force --yes erases the device and its config', async () => {
    const device = await provisioned();
    made.push(device.dir);
    const before = (await readdir(device.dataDir)).sort();
    expect(before).toEqual(['clock.json', 'device-key.json', 'journal', 'roster', 'uplink.json']);

    const refused = await educard(device.config, ['factory-reset', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `error: ${device.records.length} events not yet delivered to the bridge would be lost (oldest from ${device.records[0]?.at})`,
    );
    expect(refused.stderr).toContain('wait until `educard status` shows a backlog of 0, or add --force');
    const noTerminal = await educard(device.config, ['factory-reset', '--force']);
    expect(noTerminal.code).toBe(2);
    expect(noTerminal.stderr).toContain('standard input is not a terminal');
    expect((await readdir(device.dataDir)).sort()).toEqual(before);

    const declined = await answerOnTerminal(['--config', device.config, 'factory-reset', '--force'], 'n\r');
    expect(declined.code).toBe(1);
    expect(declined.screen).toContain(
      `${device.records.length} events not yet delivered to the bridge will be LOST`,
    );
    expect(declined.screen).toContain('factory reset cancelled: nothing was removed');
    expect((await readdir(device.dataDir)).sort()).toEqual(before);

    const reset = await educard(device.config, ['factory-reset', '--force', '--yes', '--json']);
    expect(reset.code, reset.stderr).toBe(0);
    const report = JSON.parse(reset.stdout);
    expect(report.lostEvents).toBe(device.records.length);
    expect(report.removed.map((r: { path: string }) => r.path)).toEqual([
      join(device.dataDir, 'journal'),
      join(device.dataDir, 'roster'),
      join(device.dataDir, 'device-key.json'),
      join(device.dataDir, 'clock.json'),
      join(device.dataDir, 'uplink.json'),
      device.dataDir,
      device.config,
    ]);
    expect(await exists(device.dataDir)).toBe(false);
    expect(await exists(device.config)).toBe(false);
  });

  it('erases without --force once the bridge has acknowledged everything; never while the gateway runs', async () => {
    const device = await provisioned({ acknowledgeAll: true, keepRunning: true });
    made.push(device.dir);
    try {
      const running = await educard(device.config, ['factory-reset', '--yes']);
      expect(running.code).toBe(1);
      expect(running.stderr).toContain('the gateway is running: a factory reset needs it stopped');
      expect(running.stderr).toContain('sudo systemctl stop educard-gateway');
    } finally {
      await device.gateway.stop();
    }
    const reset = await educard(device.config, ['factory-reset', '--yes']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain('factory reset done; removed:');
    expect(reset.stdout).toContain('To provision this gateway again: sudo educard init');
    expect(reset.stdout).not.toContain('erased');
    expect(await exists(device.config)).toBe(false);
  });
});
