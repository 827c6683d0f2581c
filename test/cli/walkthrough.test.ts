import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
import { sampleCard } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeCli, educard, gateInitFlags, initBridge, serveBridge } from '../support/cli.js';
import { type Child, exited, fakeSystemdNotify, startNode } from '../support/processes.js';
import { rosterCsv, rosterCsvRow } from '../support/roster-csv.js';

/**
 * docs/install.md as one test, every step a real binary in its own process: bridge init, serve,
 * token, roster import; device init, enroll, the service started as systemd would start it; a tap
 * that reaches the bridge; doctor and status on the running device; revocation.
 */
let dir: string;
let bridge: Awaited<ReturnType<typeof serveBridge>> | undefined;
let service: Child | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'walkthrough-'));
});
afterAll(async () => {
  service?.process.kill('SIGTERM');
  bridge?.child.process.kill('SIGTERM');
  if (service) await exited(service.process);
  if (bridge) await exited(bridge.child.process);
  await rm(dir, { recursive: true, force: true });
});

const card = sampleCard(7);
const CSV = rosterCsv(rosterCsvRow(7, { zones: 'main-gate' }));

describe('from a blank device to the first tap', () => {
  it('provisions, enrolls and runs a gateway whose tap reaches the bridge', {
    timeout: 120_000,
  }, async () => {
    const { config: bridgeConfig, fingerprint, anchor } = await initBridge(join(dir, 'bridge'));
    bridge = await serveBridge(bridgeConfig);
    const onBridge = (...args: string[]) => bridgeCli([...args, '--config', bridgeConfig]);

    await writeFile(join(dir, 'roster.csv'), CSV);
    const imported = await onBridge('import', join(dir, 'roster.csv'), '--school', 'school-1', '--json');
    expect(imported.code, imported.stderr).toBe(0);
    const tokens = await onBridge('tokens', 'create', '--school', 'school-1', '--count', '1', '--json');
    const [token] = tokens.json<{ tokens: string[] }>().tokens;

    const config = join(dir, 'device', 'etc', 'gateway.json');
    const setUp = await educard(config, [
      ...gateInitFlags(join(dir, 'device', 'data'), anchor, fingerprint),
      '--bridge',
      bridge.http,
    ]);
    expect(setUp.code, setUp.stderr).toBe(0);
    const enrolled = await educard(config, [
      'enroll',
      '--token',
      token as string,
      '--bridge',
      bridge.http,
      '--json',
    ]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    expect(enrolled.json()).toMatchObject({ device: 'gate-east', school: 'school-1', broker: bridge.mqtt });
    const reused = await educard(config, ['enroll', '--token', token as string, '--bridge', bridge.http]);
    expect(reused.code).toBe(1);
    expect(reused.stderr).toContain('unknown, already used or expired');
    // Taps come on standard input: the simulated reader of a gate without hardware.
    expect((await educard(config, ['config', 'set', 'readers.script', '"-"'])).code).toBe(0);

    const notify = await fakeSystemdNotify(dir);
    service = startNode('gateway/dist/main.js', ['--config', config], {
      nodeFlags: [...GATEWAY_NODE_FLAGS],
      env: {
        NOTIFY_SOCKET: join(dir, 'notify.sock'),
        WATCHDOG_USEC: '2000000',
        PATH: `${notify.bin}:${process.env.PATH}`,
      },
    });
    await service.waitFor((line) => line.msg === 'roster applied', 20_000);
    await service.waitFor((line) => line.msg === 'uplink connected');
    service.process.stdin?.write(
      `${JSON.stringify({ action: 'tap', reader: 'sim-in', card: { uid: card.credential.uid } })}\n`,
    );
    const tap = await service.waitFor((line) => line.msg === 'tap');
    expect(tap).toMatchObject({ decision: 'grant', reader: 'sim-in' });

    const { adminToken } = JSON.parse(await readFile(bridgeConfig, 'utf8')) as { adminToken: string };
    await expect
      .poll(
        async () => {
          const response = await fetch(`${bridge?.http}/v1/events?device=gate-east&type=gate.decision`, {
            headers: { authorization: `Bearer ${adminToken}` },
          });
          return (
            (await response.json()) as { events: { record: { data: Record<string, unknown> } }[] }
          ).events.map((e) => e.record.data);
        },
        { timeout: 15_000 },
      )
      .toEqual([
        expect.objectContaining({ cardId: card.cardId, decision: 'grant', personId: card.personId }),
      ]);

    await expect
      .poll(
        async () =>
          (await educard(config, ['status', '--json'])).json<{ journal: { backlog: number } }>().journal
            .backlog,
        { timeout: 15_000 },
      )
      .toBe(0);
    const doctor = await educard(config, ['doctor', '--json']);
    const checks = doctor.json<{ checks: { id: string; status: string }[] }>().checks;
    expect(checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(doctor.code).toBe(0);
    expect(Object.fromEntries(checks.map((c) => [c.id, c.status]))).toMatchObject({
      service: 'pass',
      broker: 'pass',
      bridge: 'pass',
      roster: 'pass',
      'gate-io': 'pass',
      'device-key': 'pass',
    });

    await expect
      .poll(async () => readFile(notify.log, 'utf8').catch(() => ''), { timeout: 5000 })
      .toMatch(/WATCHDOG=1/);
    const told = await readFile(notify.log, 'utf8');
    expect(told.split('\n')[0]).toMatch(/^--pid=\d+ --ready STATUS=gateway running$/);

    // Revoked at the bridge: the device is cut off and doctor says what to do.
    const revoked = await onBridge('devices', 'revoke', 'gate-east', '--json');
    expect(revoked.code, revoked.stderr).toBe(0);
    await expect
      .poll(
        async () =>
          (await educard(config, ['doctor', '--json']))
            .json<{ checks: { id: string; detail: string }[] }>()
            .checks.find((c) => c.id === 'broker')?.detail,
        { timeout: 15_000 },
      )
      .toContain("refused this device's credentials");

    service.process.kill('SIGTERM');
    expect(await exited(service.process)).toBe(0);
    service = undefined;
    expect(await readFile(notify.log, 'utf8')).toMatch(/STOPPING=1/);
  });
});
