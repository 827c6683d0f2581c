import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { trialReleaseRoot } from '../testing/update-root.js';
import { technicianRollback } from './agent.js';
import { commit, guardFailed, guardStart, guardStop } from './guard.js';
import type { ReleaseRoot } from './layout.js';

let dir: string;
let root: ReleaseRoot;
const NOW = Date.parse('2030-05-06T22:00:00Z');

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'update-guard-'));
  root = await trialReleaseRoot(dir, new Date(NOW + 60_000));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the start guard of a release on trial', () => {
  it('lets it start as often as allowed, then puts the committed release back with how it last ended', async () => {
    expect((await guardStart(root, { maxStarts: 1, now: NOW })).action).toBe('counted');
    await guardStop(root, { SERVICE_RESULT: 'watchdog', EXIT_CODE: 'killed', EXIT_STATUS: 'ABRT' });
    const outcome = await guardStart(root, { maxStarts: 1, now: NOW });
    expect(outcome.action).toBe('rolled-back');
    expect(await root.link('current')).toBe('1.0.0');
    expect(await root.readState()).toMatchObject({
      phase: 'rolled-back',
      version: '1.1.0',
      stage: 'start',
      reason: 'it stopped before its commit check passed (it hung and the watchdog killed it)',
      journaled: false,
      failed: ['r-1/1.1.0'],
    });
  });

  it('goes back when the deadline of its check has passed', async () => {
    const outcome = await guardStart(root, { maxStarts: 3, now: NOW + 61_000 });
    expect(outcome.action).toBe('rolled-back');
    expect(outcome.state.stage).toBe('check');
    expect(await root.link('current')).toBe('1.0.0');
  });

  it('writes down an exit status, and leaves the exit of the switch itself alone', async () => {
    expect((await guardStop(root, { EXIT_CODE: 'exited', EXIT_STATUS: '75' })).action).toBe('none');
    await guardStart(root, { maxStarts: 1, now: NOW });
    await guardStop(root, { SERVICE_RESULT: 'exit-code', EXIT_CODE: 'exited', EXIT_STATUS: '3' });
    expect((await root.readState()).lastExit).toBe('it exited with status 3');
  });

  it('goes back when systemd gave up on the service (OnFailure=)', async () => {
    expect((await guardFailed(root)).action).toBe('rolled-back');
    expect(await root.link('current')).toBe('1.0.0');
  });

  it('does nothing once the release is committed: previous keeps the one before', async () => {
    await commit(root, await root.readState());
    expect(await root.link('committed')).toBe('1.1.0');
    expect(await root.link('previous')).toBe('1.0.0');
    expect((await guardStart(root, { maxStarts: 1, now: NOW + 999_999 })).action).toBe('none');
  });

  it('takes a technician back to the previous release when none is on trial, and that one is committed', async () => {
    await commit(root, await root.readState());
    const state = await technicianRollback(root, await root.readState());
    expect(await root.link('current')).toBe('1.0.0');
    expect(await root.link('committed')).toBe('1.0.0');
    expect(state).toMatchObject({
      phase: 'rolled-back',
      version: '1.1.0',
      stage: 'technician',
      failed: ['r-1/1.1.0'],
    });
  });
});
