import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import {
  createLogger,
  Gateway,
  parseConfig,
  RosterStore,
  type SimulatedReaderDriver,
} from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { type IssuedRoster, SPEC_VERSION, topics } from '@educard/terminal-sdk';
import { SAMPLE_MONDAY, sampleCard, TestAuthority } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enrollDevice, startBridge } from '../support/bridge.js';

/** The gateway's clock, and the dates of what is signed for it, all from the sample school year. */
const NOW = SAMPLE_MONDAY;
const DAY = 86_400_000;
const ISSUED = new Date(NOW - DAY).toISOString();
const EXPIRES = new Date(NOW + 30 * DAY).toISOString();
let dir: string;
let bridge: Bridge;
let gateway: Gateway | undefined;
let snapshots: Server;
const bodies = new Map<string, Uint8Array>();
const authority = new TestAuthority('school-1', { now: () => NOW });
const cards = [sampleCard(1), sampleCard(2), sampleCard(3)];

/** Publishes as the bridge's roster service does: key sets, the snapshot manifest, the latest delta. */
async function publishSnapshot(version: number, issued: IssuedRoster): Promise<void> {
  bodies.set(`/v1/roster/school-1/snapshots/${version}`, issued.body);
  const { port } = snapshots.address() as { port: number };
  const message = {
    v: SPEC_VERSION,
    manifest: JSON.parse(Buffer.from(issued.manifest).toString()),
    url: `http://127.0.0.1:${port}/v1/roster/school-1/snapshots/${version}`,
  };
  await bridge.client.publishAsync(topics.rosterSnapshot('school-1', 'gate'), JSON.stringify(message), {
    qos: 1,
    retain: true,
  });
}

async function publishDelta(issued: IssuedRoster): Promise<void> {
  const message = {
    v: SPEC_VERSION,
    manifest: JSON.parse(Buffer.from(issued.manifest).toString()),
    body: Buffer.from(issued.body).toString(),
  };
  await bridge.client.publishAsync(topics.rosterDelta('school-1', 'gate'), JSON.stringify(message), {
    qos: 1,
    retain: true,
  });
}

async function startGateway(mqtt: { url: string; username: string; password: string }) {
  const config = parseConfig({
    device: { id: 'gate-01', school: 'school-1' },
    dataDir: join(dir, 'gate-01'),
    station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    readers: { simulated: ['sim-in'] },
    policy: { clockUntrusted: 'ignore-time' },
    uplink: { url: mqtt.url, bridgeHttp: bridge.httpUrl, username: mqtt.username, password: mqtt.password },
  });
  return Gateway.start({
    config,
    logger: createLogger('gateway', { level: 'silent' }),
    now: () => NOW,
  });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-updates-'));
  bridge = await startBridge(join(dir, 'bridge'));
  snapshots = createServer((request, response) => {
    const body = bodies.get(request.url ?? '');
    response.writeHead(body ? 200 : 404, { 'content-length': body?.length ?? 0 }).end(body);
  });
  await new Promise<void>((resolve) => snapshots.listen(0, '127.0.0.1', () => resolve()));
  await mkdir(join(dir, 'gate-01', 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'gate-01', 'roster'), authority.anchor());
  await bridge.client.publishAsync(
    topics.rosterKeySets('school-1'),
    JSON.stringify({ v: SPEC_VERSION, keySets: [JSON.parse(Buffer.from(authority.keySet()).toString())] }),
    {
      qos: 1,
      retain: true,
    },
  );
});
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await bridge.stop();
  await new Promise<void>((resolve) => snapshots.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

describe('roster updates over the uplink', () => {
  it('takes the key set and the snapshot on first connect, then a lost card by delta, and its next tap is denied', async () => {
    await publishSnapshot(1, authority.snapshot(1, cards, { issuedAt: ISSUED, expiresAt: EXPIRES }));
    const mqtt = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    gateway = await startGateway(mqtt);
    const live = gateway;
    await until(() => live.roster.view?.version === 1);
    await publishDelta(
      authority.delta(1, 2, [{ op: 'revoke', cardId: sampleCard(2).cardId, status: 'lost' }], {
        issuedAt: ISSUED,
        expiresAt: EXPIRES,
      }),
    );
    await until(() => live.roster.view?.version === 2);
    let reason = '';
    live.station.events.on('tap', (outcome) => {
      reason = outcome.decision.reason;
    });
    (live.readers as SimulatedReaderDriver).present('sim-in', {
      uid: sampleCard(2).credential.uid as string,
    });
    expect(reason).toBe('lost');
  });

  it('catches up through the snapshot after missing deltas while offline', async () => {
    await publishSnapshot(1, authority.snapshot(1, cards, { issuedAt: ISSUED, expiresAt: EXPIRES }));
    const mqtt = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    gateway = await startGateway(mqtt);
    const first = gateway;
    await until(() => first.roster.view?.version === 1);
    await gateway.stop();
    // While it is away: two deltas and a new snapshot; only the last delta stays retained.
    await publishDelta(
      authority.delta(1, 2, [{ op: 'revoke', cardId: sampleCard(1).cardId, status: 'lost' }], {
        issuedAt: ISSUED,
        expiresAt: EXPIRES,
      }),
    );
    const changed = [
      sampleCard(1, { status: 'lost' }),
      sampleCard(2),
      sampleCard(3, { status: 'cancelled' }),
    ];
    await publishDelta(
      authority.delta(2, 3, [{ op: 'revoke', cardId: sampleCard(3).cardId, status: 'cancelled' }], {
        issuedAt: ISSUED,
        expiresAt: EXPIRES,
      }),
    );
    await publishSnapshot(3, authority.snapshot(3, changed, { issuedAt: ISSUED, expiresAt: EXPIRES }));
    gateway = await startGateway(mqtt);
    const second = gateway;
    await until(() => second.roster.view?.version === 3);
    expect(second.roster.view?.byCardId(sampleCard(3).cardId)?.status).toBe('cancelled');
  });

  it('ignores a rolled-back, expired or wrongly scoped manifest, whoever publishes it', async () => {
    await publishSnapshot(2, authority.snapshot(2, cards, { issuedAt: ISSUED, expiresAt: EXPIRES }));
    const mqtt = await enrollDevice(bridge.httpUrl, join(dir, 'gate-01'), 'gate-01');
    gateway = await startGateway(mqtt);
    const live = gateway;
    await until(() => live.roster.view?.version === 2);
    await publishSnapshot(
      1,
      authority.snapshot(1, [sampleCard(9)], { issuedAt: ISSUED, expiresAt: EXPIRES }),
    );
    await publishDelta(
      authority.delta(2, 3, [], { issuedAt: ISSUED, expiresAt: new Date(NOW - DAY).toISOString() }),
    );
    await publishSnapshot(
      4,
      authority.snapshot(4, [sampleCard(9)], { issuedAt: ISSUED, expiresAt: EXPIRES, devices: ['gate-99'] }),
    );
    // A rollback is dropped without a word; the other two are refused and journaled.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(live.roster.view?.version).toBe(2);
    expect(live.roster.view?.byCardId(sampleCard(9).cardId)).toBeUndefined();
    await live.journal.flush();
    const rejected = (await live.journal.read(1, 1000))
      .filter((e) => e.type === 'roster.rejected')
      .map((e) => String(e.data.reason).split(':')[0]);
    expect(rejected.sort()).toEqual(['expired', 'wrong-device']);
  });
});
