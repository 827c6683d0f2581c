import { describe, expect, it } from 'vitest';
import { runCommand } from '../support/cli.js';

const FLEET_SIM = 'scripts/dist/fleet-sim/main.js';

describe('npm run fleet-sim', () => {
  it('runs a small district through an outage: every event tapped, the backlogs included, is acknowledged', async () => {
    const run = await runCommand(
      FLEET_SIM,
      ['--devices', '12', '--seconds', '6', '--outage', '0.25', '--json'],
      { timeoutMs: 240_000 },
    );
    expect(run.code, run.stderr).toBe(0);
    const figures = run.json<Record<string, number | boolean | number[]>>();
    expect(figures).toMatchObject({ devices: 12, connected: 12, backlog: 0, refusals: 0, drained: true });
    // The bridge's NATS device accounts make it name QoS 0 for batches at enrollment.
    expect(figures.batchQos).toEqual([0]);
    expect(figures.tapped).toBeGreaterThanOrEqual(12 * 3);
    expect(figures.acked).toBe(figures.tapped);
    // Three devices lost their link and came back: a connect and an answered birth each time.
    expect(figures.connects).toBe(12 + 3);
    expect(figures.syncAnswers).toBeGreaterThanOrEqual(figures.connects as number);
    expect(run.stderr).toContain('3 devices lose their link');
  }, 300_000);

  it('refuses bad usage with exit code 2 and says why', async () => {
    const run = await runCommand(FLEET_SIM, ['--outage', '2']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('a share from 0 to 1');
    const qos = await runCommand(FLEET_SIM, ['--qos', '2']);
    expect(qos.code).toBe(2);
    expect(qos.stderr).toContain('0 or 1');
  });
});
