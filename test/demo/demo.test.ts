import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

describe('npm run demo', () => {
  it('runs to its end, shows every decision reason it promises, and exits 0', () => {
    const run = spawnSync('npm', ['run', 'demo'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    for (const reason of [
      'lost',
      'expired',
      'not-in-zone',
      'outside-schedule',
      'unknown-card',
      'card-auth-failed',
      'passback',
      'door forced open',
    ]) {
      expect(run.stdout).toContain(` ${reason} `);
    }
    expect(run.stdout).toMatch(/4 granted, 7 denied, 1 repeat ignored/);
    expect(run.stdout).toMatch(/hash chain verified/);
    // Card numbers reach the screen masked, never whole.
    expect(run.stdout).not.toMatch(/E0000000\d\d/);
  }, 130_000);
});
