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
      'lockdown',
    ]) {
      expect(run.stdout).toContain(` ${reason} `);
    }
    // The set-up installs the PC/SC stack for the tests, so the third gate reads real PC/SC.
    expect(run.stdout).toMatch(/gate-north +Virtual PCD 00 00 +\S+ +Li Fang +GRANT +ok /);
    expect(run.stdout).toMatch(
      /gate-north +Virtual PCD 00 00 +\S+ +\(copy of Li Fang\) +DENY +card-auth-failed /,
    );
    expect(run.stdout).toMatch(/5 granted, 10 denied, 1 repeat ignored/);
    expect(run.stdout).toMatch(
      /library +checkout +\S+ +Wang Wei +OK +source local +Dream of the Red Chamber/,
    );
    expect(run.stdout).toMatch(/library +checkout +\S+ +Wang Wei +REFUSED +loan-limit/);
    expect(run.stdout).toMatch(/library +desk tap +\S+ +Zhou Bo +DENY +lost/);
    expect(run.stdout).toMatch(/bridge +ledger +- +- +LOANS +1 open +9787020008735/);
    // Half-way a card is reported lost at the bridge; both gates apply it and its next tap is denied.
    expect(run.stdout).toMatch(/LOST +roster v2 +applied: gate-east \d+ ms, gate-west \d+ ms/);
    expect(run.stdout).toMatch(/gate-west +west-out +\S+ +Zhou Bo +DENY +lost/);
    // A fire alarm holds the west gate unlocked; reset, it locks again, and the bridge keeps the alarm.
    expect(run.stdout).toMatch(
      /gate-west +fire panel +- +- +RELEASE +fire alarm +relay held closed, green, alarm beep/,
    );
    expect(run.stdout).toMatch(
      /gate-west +fire panel +- +- +LOCKED +panel reset +relay open 1 s after the reset/,
    );
    expect(run.stdout).toMatch(
      /bridge +alarms +- +- +ALARM +open +emergency release at gate-west: the door was held unlocked for \d+ s, locked again/,
    );
    // The school locked down from the bridge: both gates take it, a pupil coming in is refused, lifted.
    expect(run.stdout).toMatch(
      /bridge +API +- +- +ORDER +lockdown +applied: gate-east \d+ ms, gate-west \d+ ms/,
    );
    expect(run.stdout).toMatch(/gate-west +west-in +\S+ +Wang Wei +DENY +lockdown /);
    expect(run.stdout).toMatch(
      /bridge +API +- +Wang Wei +OUTSIDE +lockdown +refused at gate-west: the gatehouse goes to them/,
    );
    expect(run.stdout).toMatch(
      /bridge +API +- +- +ORDER +lockdown lifted +order 2: both gates decide as before/,
    );
    // Every event each gateway journaled is stored at the bridge.
    for (const gate of ['gate-east', 'gate-west', 'gate-north']) {
      const [, journaled, stored] =
        run.stdout.match(
          new RegExp(`${gate}: (\\d+) events journaled, (\\d+) stored at the bridge, hash chain verified`),
        ) ?? [];
      expect(Number(journaled)).toBeGreaterThan(0);
      expect(stored).toBe(journaled);
    }
    // Card numbers reach the screen masked, never whole.
    expect(run.stdout).toMatch(/Central system down: [1-9]\d* events waiting at the bridge, lag \d+ s\./);
    expect(run.stdout).toMatch(
      /Central system back: every event delivered once and in order \(gate-east \d+, gate-west \d+, library-main \d+/,
    );
    expect(run.stdout).toMatch(/Attendance \d{4}-\d\d-\d\d: (\d+ pupils, \d+ present|not a school day)/);
    expect(run.stdout).not.toMatch(/E0000000\d\d/);
  }, 130_000);
});
