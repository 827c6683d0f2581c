import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, Gateway, loadConfig, RosterStore } from '@educard/gateway';
import { type Pcscd, startPcscd } from '@educard/scripts/support';
import { TestAuthority } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { educard } from '../support/cli.js';

let dir: string;
let config: string;
let pcscd: Pcscd | undefined;
let gateway: Gateway | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'doctor-pcsc-'));
  config = join(dir, 'gateway.json');
  await writeFile(
    config,
    JSON.stringify({
      device: { id: 'gate-pcsc', school: 'school-1' },
      dataDir: join(dir, 'data'),
      station: { id: 'gate-pcsc', zone: 'main-gate' },
      readers: { driver: 'pcsc', pcsc: { recoveryMs: 300 }, bindings: [{ pattern: '.', direction: 'in' }] },
    }),
  );
  await mkdir(join(dir, 'data', 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'data', 'roster'), new TestAuthority('school-1').anchor());
});
afterAll(async () => {
  await gateway?.stop();
  await pcscd?.stop();
  await rm(dir, { recursive: true, force: true });
});

type Check = { id: string; status: string; detail: string; remedy?: string };
async function doctor(): Promise<Record<string, Check>> {
  const run = await educard(config, ['doctor', '--json']);
  expect(run.code).toBe(1); // no roster in these cases: never all passing
  return Object.fromEntries((JSON.parse(run.stdout).checks as Check[]).map((c) => [c.id, c]));
}

describe('educard doctor on a PC/SC gate', () => {
  it('reports pcscd stopped with the command that starts it, and the readers it finds once it runs', async () => {
    const before = await doctor();
    expect(before.pcscd).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('pcscd is not running'),
      remedy: expect.stringContaining('systemctl start pcscd'),
    });

    pcscd = await startPcscd();
    gateway = await Gateway.start({
      config: await loadConfig(config),
      logger: createLogger('gateway', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
    });
    await expect.poll(() => gateway?.readers.readers().length, { timeout: 10_000 }).toBe(2);
    const running = await doctor();
    expect(running.pcscd).toMatchObject({ status: 'pass' });
    expect(running.readers).toMatchObject({ status: 'pass', detail: 'Virtual PCD 00 00, Virtual PCD 00 01' });
    expect(running.roster).toMatchObject({ status: 'fail', detail: expect.stringContaining('no roster') });

    await pcscd.stop();
    await expect
      .poll(() => gateway?.readers.readers().filter((r) => r.connected).length, { timeout: 10_000 })
      .toBe(0);
    const stopped = await doctor();
    expect(stopped.pcscd).toMatchObject({
      status: 'fail',
      remedy: expect.stringContaining('systemctl start pcscd'),
    });
    expect(stopped.readers).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('no card reader found (driver pcsc)'),
    });
  });
});
