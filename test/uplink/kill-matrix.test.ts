import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@educard/cloud-bridge';
import { GATEWAY_NODE_FLAGS, RosterStore } from '@educard/gateway';
import { inspectJournal, Journal } from '@educard/gateway/journal';
import { createLogger } from '@educard/gateway/log';
import { type Mosquitto, startMosquitto } from '@educard/scripts/support';
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enrollDevice } from '../support/bridge.js';
import { type Child, exited, startNode } from '../support/processes.js';

const DEVICES = ['gate-a', 'gate-b'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Mode {
  name: string;
  broker: 'embedded' | 'mosquitto';
  maxQueued?: number;
  maxInflight?: number;
  /** Records per batch: one at a time floods the bridge's queue at the broker. */
  batchRecords: number;
  expectDrops?: boolean;
}

const MODES: Mode[] = [
  { name: 'embedded aedes', broker: 'embedded', batchRecords: 200 },
  { name: 'Mosquitto as a separate process', broker: 'mosquitto', maxQueued: 100_000, batchRecords: 200 },
  { name: 'Mosquitto with its default queue limit', broker: 'mosquitto', batchRecords: 1 },
  {
    name: 'Mosquitto with a queue of 10, so that it surely drops messages to the bridge',
    broker: 'mosquitto',
    maxQueued: 10,
    // One message to the bridge at a time: its queue fills while it commits, however fast the machine.
    maxInflight: 1,
    batchRecords: 1,
    expectDrops: true,
  },
];

let dir: string;
const children = new Set<Child>();
let mosquitto: Mosquitto | undefined;

afterEach(async () => {
  for (const child of children) child.process.kill('SIGKILL');
  await mosquitto?.stop();
  mosquitto = undefined;
  await rm(dir, { recursive: true, force: true });
});

function track(child: Child): Child {
  children.add(child);
  child.process.once('exit', () => children.delete(child));
  return child;
}

async function startBridge(ports: { mqtt: number; http: number }, externalUrl?: string) {
  const mqtt = externalUrl ? { embedded: false, url: externalUrl } : { port: ports.mqtt };
  await writeFile(
    join(dir, 'bridge.json'),
    JSON.stringify({
      dataDir: join(dir, 'bridge'),
      adminToken: ADMIN_TOKEN,
      mqtt,
      http: { port: ports.http },
    }),
  );
  const child = track(
    startNode('cloud-bridge/dist/cli/main.js', ['serve', '--config', join(dir, 'bridge.json')]),
  );
  const started = await child.waitFor((line) => line.msg === 'bridge started');
  return {
    child,
    mqtt: Number(new URL(String(started.mqtt)).port),
    http: Number(new URL(String(started.http)).port),
  };
}

async function startGateway(
  device: string,
  mqtt: { url: string; username: string; password: string },
  http: number,
  mode: Mode,
) {
  // Provisioned as a technician does: the root it trusts, so it verifies the key sets, and with them
  // the signed commands (events.resend after a gap) of the bridge.
  const anchor = (await (await fetch(`http://127.0.0.1:${http}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dir, device, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, device, 'roster'), anchor);
  const config = {
    device: { id: device, school: 'school-1' },
    dataDir: join(dir, device),
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: { simulated: ['sim-in'], script: '-' },
    uplink: {
      ...mqtt,
      bridgeHttp: `http://127.0.0.1:${http}`,
      backoff: { initialMs: 50, maxMs: 400 },
      batch: {
        ackTimeoutMs: 2000,
        maxRecords: mode.batchRecords,
        inFlight: mode.batchRecords === 1 ? 700 : 8,
      },
    },
  };
  await writeFile(join(dir, `${device}.json`), JSON.stringify(config));
  const child = track(
    startNode('gateway/dist/main.js', ['--config', join(dir, `${device}.json`)], {
      nodeFlags: GATEWAY_NODE_FLAGS,
    }),
  );
  await child.waitFor((line) => line.msg === 'gateway started');
  return child;
}

let tapCounter = 0;
function tapLines(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    tapCounter += 1;
    lines.push(JSON.stringify({ action: 'present', reader: 'sim-in', card: { uid: sampleUid(tapCounter) } }));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Waits until the bridge has committed, for every device, the tip of its journal (read without
 * opening it, since the gateway is still running on it). The taps have stopped by then.
 */
async function settle(): Promise<void> {
  // A bound against a hang, not a measure: with the broker dropping most of what goes to the bridge,
  // catching up is a round of gaps and resends per dropped batch, minutes on a loaded runner.
  const deadline = Date.now() + 300_000;
  for (;;) {
    const store = openSqliteStore(join(dir, 'bridge', 'bridge.db'));
    const behind = DEVICES.filter(
      (device) => store.cursor(device).seq !== inspectJournal(join(dir, device, 'journal')).lastSeq,
    );
    store.close();
    if (behind.length === 0) return;
    if (Date.now() > deadline) throw new Error(`the bridge did not catch up with ${behind.join(', ')}`);
    await sleep(250);
  }
}

describe.each(MODES)('loss and duplicate matrix through $name: real processes, real kills', (mode) => {
  it('ends with the bridge holding exactly what the gateways journaled, none lost, none twice', async () => {
    dir = await mkdtemp(join(tmpdir(), 'kill-matrix-'));
    await mkdir(join(dir, 'bridge'), { recursive: true });
    mosquitto =
      mode.broker === 'mosquitto'
        ? await startMosquitto(dir, {
            ...(mode.maxQueued === undefined ? {} : { maxQueued: mode.maxQueued }),
            ...(mode.maxInflight === undefined ? {} : { maxInflight: mode.maxInflight }),
          })
        : undefined;
    let bridge = await startBridge({ mqtt: 0, http: 0 }, mosquitto?.url);
    const ports = { mqtt: bridge.mqtt, http: bridge.http };
    const credentials = new Map<string, Awaited<ReturnType<typeof enrollDevice>>>();
    for (const device of DEVICES)
      credentials.set(
        device,
        await enrollDevice(`http://127.0.0.1:${ports.http}`, join(dir, device), device),
      );
    const gateways = new Map<string, Child>();
    for (const device of DEVICES)
      gateways.set(device, await startGateway(device, credentials.get(device) as never, ports.http, mode));
    const feed = (count: number) => {
      for (const child of gateways.values()) child.process.stdin?.write(tapLines(count));
    };

    // The bridge killed during ingest, three times.
    for (let round = 0; round < 3; round++) {
      feed(150);
      await sleep(50 + Math.random() * 200);
      bridge.child.process.kill('SIGKILL');
      await exited(bridge.child.process);
      feed(100);
      await sleep(200);
      bridge = await startBridge(ports, mosquitto?.url);
    }
    // Each gateway killed during upload.
    for (const device of DEVICES) {
      feed(150);
      await sleep(50 + Math.random() * 150);
      (gateways.get(device) as Child).process.kill('SIGKILL');
      await exited((gateways.get(device) as Child).process);
      gateways.set(device, await startGateway(device, credentials.get(device) as never, ports.http, mode));
    }
    // The broker down while taps go on (with the embedded broker, that is the bridge), then back.
    if (mosquitto) {
      await mosquitto.stop();
      feed(400);
      await sleep(3000);
      await mosquitto.restart();
    }
    // All three at once: broker, bridge and a gateway.
    feed(200);
    await sleep(100);
    bridge.child.process.kill('SIGKILL');
    (gateways.get('gate-a') as Child).process.kill('SIGKILL');
    await mosquitto?.stop();
    await exited(bridge.child.process);
    await exited((gateways.get('gate-a') as Child).process);
    await mosquitto?.restart();
    bridge = await startBridge(ports, mosquitto?.url);
    gateways.set(
      'gate-a',
      await startGateway('gate-a', credentials.get('gate-a') as never, ports.http, mode),
    );
    feed(100);

    await settle();
    for (const child of gateways.values()) {
      child.process.kill('SIGTERM');
      await exited(child.process);
    }
    bridge.child.process.kill('SIGTERM');
    await exited(bridge.child.process);

    const store = openSqliteStore(join(dir, 'bridge', 'bridge.db'));
    for (const device of DEVICES) {
      const journal = await Journal.open({
        dir: join(dir, device, 'journal'),
        device,
        logger: createLogger('x', { level: 'silent' }),
      });
      const tip = journal.stats();
      await journal.close();
      // The same length and the same chain head: the bridge holds exactly the gateway's records, in order.
      expect(cursorOf(store, device)).toEqual({ seq: tip.lastSeq, hash: tip.lastHash });
      expect(store.countEvents({ device })).toBe(tip.lastSeq);
      const seqs = store.queryEvents({ device, limit: 100_000 }).map((e) => e.record.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
      expect(tip.lastSeq).toBeGreaterThan(1000);
    }
    store.close();
    if (mode.expectDrops) {
      // The variant proves something only if Mosquitto really shed messages on the way: it drops what
      // overflows a client's queue or, when a burst lands while it is short of room, cuts the client
      // off ("disconnected due to out of memory") with its unacknowledged messages. Either is a loss
      // the uplink must make good; which one happens depends on the machine's timing.
      expect(mosquitto?.log()).toMatch(
        /Outgoing messages are being dropped|disconnected due to out of memory/,
      );
    }
  }, 480_000);
});

function cursorOf(store: ReturnType<typeof openSqliteStore>, device: string) {
  return store.cursor(device);
}
