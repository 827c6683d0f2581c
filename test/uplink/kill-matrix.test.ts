import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@educard/cloud-bridge';
import { GATEWAY_NODE_FLAGS } from '@educard/gateway';
import { Journal } from '@educard/gateway/journal';
import { createLogger } from '@educard/gateway/log';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enrollDevice } from '../support/bridge.js';
import { type Child, exited, startNode } from '../support/processes.js';

const DEVICES = ['gate-a', 'gate-b'];
let dir: string;
const children = new Set<Child>();

function track(child: Child): Child {
  children.add(child);
  child.process.once('exit', () => children.delete(child));
  return child;
}

async function startBridge(ports: {
  mqtt: number;
  http: number;
}): Promise<{ child: Child; mqtt: number; http: number }> {
  await writeFile(
    join(dir, 'bridge.json'),
    JSON.stringify({
      dataDir: join(dir, 'bridge'),
      adminToken: ADMIN_TOKEN,
      mqtt: { port: ports.mqtt },
      http: { port: ports.http },
    }),
  );
  const child = track(startNode('cloud-bridge/dist/main.js', ['--config', join(dir, 'bridge.json')]));
  const started = await child.waitFor((line) => line.msg === 'bridge started');
  const mqtt = Number(new URL(String(started.mqtt)).port);
  const http = Number(new URL(String(started.http)).port);
  return { child, mqtt, http };
}

async function startGateway(
  device: string,
  mqtt: { url: string; username: string; password: string },
  http: number,
): Promise<Child> {
  const config = {
    device: { id: device, school: 'school-1' },
    dataDir: join(dir, device),
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: { simulated: ['sim-in'], script: '-' },
    uplink: {
      ...mqtt,
      bridgeHttp: `http://127.0.0.1:${http}`,
      backoff: { initialMs: 50, maxMs: 400 },
      batch: { ackTimeoutMs: 2000 },
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kill-matrix-'));
  await mkdir(join(dir, 'bridge'), { recursive: true });
});
afterAll(async () => {
  for (const child of children) child.process.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('loss and duplicate matrix: real processes, real kills', () => {
  it('bridge and gateways SIGKILLed during ingest and upload: the bridge ends with exactly what the gateways journaled', async () => {
    let bridge = await startBridge({ mqtt: 0, http: 0 });
    const ports = { mqtt: bridge.mqtt, http: bridge.http };
    const credentials = new Map<string, Awaited<ReturnType<typeof enrollDevice>>>();
    for (const device of DEVICES) {
      credentials.set(
        device,
        await enrollDevice(`http://127.0.0.1:${ports.http}`, join(dir, device), device),
      );
    }
    const gateways = new Map<string, Child>();
    for (const device of DEVICES) {
      gateways.set(device, await startGateway(device, credentials.get(device) as never, ports.http));
    }
    for (let round = 0; round < 6; round++) {
      for (const child of gateways.values()) child.process.stdin?.write(tapLines(150));
      await sleep(50 + Math.random() * 200);
      if (round % 2 === 0) {
        bridge.child.process.kill('SIGKILL');
        await exited(bridge.child.process);
        for (const child of gateways.values()) child.process.stdin?.write(tapLines(100));
        await sleep(200);
        bridge = await startBridge(ports);
      } else {
        const device = DEVICES[round % DEVICES.length] as string;
        const gateway = gateways.get(device) as Child;
        gateway.process.kill('SIGKILL');
        await exited(gateway.process);
        gateways.set(device, await startGateway(device, credentials.get(device) as never, ports.http));
      }
    }
    for (const child of gateways.values()) child.process.stdin?.write(tapLines(100));

    // Let everything drain (the bridge's cursors stop moving for longer than an ack timeout and a
    // reconnect), then stop the gateways cleanly and compare. The live journals are not opened here:
    // opening one runs recovery on a file another process is writing.
    const deadline = Date.now() + 60_000;
    let last = '';
    let stableSince = Date.now();
    while (Date.now() - stableSince < 3000) {
      if (Date.now() > deadline) throw new Error('the bridge did not settle');
      await sleep(250);
      const store = openSqliteStore(join(dir, 'bridge', 'bridge.db'));
      const now = DEVICES.map((device) => store.cursor(device).seq).join(',');
      store.close();
      if (now !== last) {
        last = now;
        stableSince = Date.now();
      }
    }
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
      const cursor = store.cursor(device);
      // Same length and the same chain head: the bridge holds exactly the gateway's records, in order.
      expect(cursor).toEqual({ seq: tip.lastSeq, hash: tip.lastHash });
      expect(store.countEvents({ device })).toBe(tip.lastSeq);
      const seqs = store.queryEvents({ device, limit: 100_000 }).map((e) => e.record.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    }
    store.close();
  }, 180_000);
});
