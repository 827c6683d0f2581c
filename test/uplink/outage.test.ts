import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway, SimulatedReaderDriver } from '@educard/gateway';
import { type Mosquitto, startMosquitto, until } from '@educard/scripts/support';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { enrollDevice, startBridge, startUplinkGateway } from '../support/bridge.js';

// The broker gone for two minutes while the gate goes on taking taps: long enough for the backoff to
// reach its ceiling and for keepalives and connect timeouts to run out, which a few seconds are not.

const OUTAGE_MS = 120_000;
let dir: string;
let mosquitto: Mosquitto | undefined;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;

afterAll(async () => {
  await gateway?.stop();
  await bridge?.stop();
  await mosquitto?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a broker outage of minutes', () => {
  it('loses nothing the gate journaled while the broker was down, and sends it once when it is back', async () => {
    dir = await mkdtemp(join(tmpdir(), 'outage-'));
    mosquitto = await startMosquitto(dir);
    bridge = await startBridge(join(dir, 'bridge'), { mqtt: { embedded: false, url: mosquitto.url } });
    const credentials = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    gateway = await startUplinkGateway(join(dir, 'gate-01'), 'gate-01', credentials, bridge.httpUrl, {
      backoff: { initialMs: 200, maxMs: 5000 },
    });
    const driver = gateway.readers as SimulatedReaderDriver;
    const live = gateway;
    const delivered = () => bridge?.store.cursor('gate-01').seq === live.journal.stats().lastSeq;
    let n = 0;
    const tap = () => driver.present('sim-in', { uid: sampleUid(++n) });

    for (let i = 0; i < 20; i++) tap();
    await until(delivered, { what: 'the first 20 taps to reach the bridge', everyMs: 50 });

    await mosquitto.stop();
    const downUntil = Date.now() + OUTAGE_MS;
    while (Date.now() < downUntil) {
      tap();
      await sleep(1000);
    }
    expect(live.uplink?.status().connected).toBe(false);
    expect(live.journal.stats().backlog).toBeGreaterThan(100);
    await mosquitto.restart();

    const deadline = Date.now() + 30_000;
    while (!delivered() && Date.now() < deadline) await sleep(100);
    const tip = live.journal.stats();
    expect(bridge.store.cursor('gate-01')).toEqual({ seq: tip.lastSeq, hash: tip.lastHash });
    expect(bridge.store.countEvents({ device: 'gate-01' })).toBe(tip.lastSeq);
    expect(tip.lastSeq).toBeGreaterThan(130);
  }, 200_000);
});
