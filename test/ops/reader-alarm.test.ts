import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { type Gateway, RosterStore, type SimulatedReaderDriver } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

/** A gate's reader failing reaches the operations view as an alarm, and its return clears it. */

let dir: string;
let bridge: Bridge;
let gateway: Gateway;
let credentials: Awaited<ReturnType<typeof enrollDevice>>;

interface AlarmView {
  id: number;
  kind: string;
  device?: string;
  message: string;
  open: boolean;
  count: number;
}

const readerAlarms = async () =>
  ((await admin(bridge.httpUrl, '/v1/ops/alarms?school=school-1')).alarms as AlarmView[]).filter(
    (a) => a.kind === 'reader.error',
  );

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reader-alarm-'));
  bridge = await startBridge(join(dir, 'bridge'));
  const anchor = (await (await fetch(`${bridge.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dir, 'gate-01', 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'gate-01', 'roster'), anchor);
  credentials = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
  gateway = await startUplinkGateway(join(dir, 'gate-01'), 'gate-01', credentials, bridge.httpUrl);
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('reader alarms', () => {
  it('raises one when a bound reader is unplugged or its driver fails, and clears it when the reader is back', async () => {
    const driver = gateway.readers as SimulatedReaderDriver;
    driver.unplug('sim-in');
    const lost = await until(async () => (await readerAlarms()).find((a) => a.open));
    expect(lost).toMatchObject({ device: 'gate-01', message: 'reader sim-in unplugged', count: 1 });

    // A driver failing in a loop is one more count on the open alarm, journaled once a minute.
    for (let i = 0; i < 5; i++) driver.events.emit('error', { message: 'pcscd is not running' });
    const failing = await until(async () => (await readerAlarms()).find((a) => a.open && a.count === 2));
    expect(failing.message).toBe('reader error: pcscd is not running');
    expect(
      bridge.store
        .queryEvents({ device: 'gate-01', type: 'reader.fault', limit: 10 })
        .map((e) => e.record.data),
    ).toEqual([{ message: 'pcscd is not running' }]);

    driver.plug('sim-in');
    await until(async () => ((await readerAlarms()).every((a) => !a.open) ? true : undefined));
    expect(
      bridge.store
        .queryEvents({ device: 'gate-01', limit: 50 })
        .map((e) => e.record.type)
        .filter((t) => t.startsWith('reader.')),
    ).toEqual(['reader.connected', 'reader.lost', 'reader.fault', 'reader.connected']);
  });

  it('stays open while any reader is missing, and clears when a restarted gateway finds it', async () => {
    const driver = gateway.readers as SimulatedReaderDriver;
    driver.unplug('sim-in');
    const lost = await until(async () => (await readerAlarms()).find((a) => a.open));
    // Another bound reader arriving is not the missing one coming back.
    driver.plug('sim-out');
    await until(async () =>
      bridge.store.queryEvents({ device: 'gate-01', type: 'reader.connected', limit: 50 }).length === 3
        ? true
        : undefined,
    );
    expect((await readerAlarms()).filter((a) => a.open)).toMatchObject([
      { id: lost.id, message: 'reader sim-in unplugged', count: 1 },
    ]);

    // The technician replugs it with the gateway stopped: this run never saw it go, and says it is there.
    await gateway.stop();
    gateway = await startUplinkGateway(join(dir, 'gate-01'), 'gate-01', credentials, bridge.httpUrl);
    await until(async () => ((await readerAlarms()).every((a) => !a.open) ? true : undefined));
    expect((await readerAlarms()).find((a) => a.id === lost.id)).toMatchObject({ open: false });
  });
});
