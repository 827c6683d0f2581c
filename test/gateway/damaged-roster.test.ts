import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { Gateway, parseConfig } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin } from '../support/bridge.js';
import { capturingLogger, type Enrolled, gateCard, schoolWithDevice, uplinkTo } from './storage-fixture.js';

/**
 * A gateway whose newest roster snapshot rotted on disk while an older good one is still there: it
 * uses the older one (the gate keeps deciding), keeps the damaged files aside, tells the bridge, and
 * asks the bridge for a fresh snapshot at once.
 */

const DEVICE = 'gate-roster';
const card = (n: number) => gateCard(n);

let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway | undefined;
let dataDir: string;
let credentials: Enrolled;
let lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'damaged-roster-'));
  dataDir = join(dir, DEVICE);
  ({ bridge, credentials } = await schoolWithDevice(dir, dataDir, DEVICE, [card(1), card(2)]));
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function importCards(...numbers: number[]): Promise<number> {
  const answer = await admin(bridge?.httpUrl as string, '/v1/roster/school-1/import', {
    cards: numbers.map(card),
  });
  expect(answer).toMatchObject({ ok: true });
  return answer.version as number;
}

function startGateway(): Promise<Gateway> {
  lines = [];
  return Gateway.start({
    config: parseConfig({
      device: { id: DEVICE, school: 'school-1' },
      dataDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'] },
      uplink: uplinkTo(bridge as Bridge, credentials),
    }),
    logger: capturingLogger(DEVICE, lines),
  });
}

const rosterFiles = async () =>
  (await readdir(join(dataDir, 'roster'))).filter((n) => n.startsWith('snapshot'));

describe('a gateway whose newest roster snapshot is damaged on disk', () => {
  it('uses the older snapshot still on disk and fetches a fresh one at once', async () => {
    gateway = await startGateway();
    await until(() => gateway?.roster.view?.version === 1, { what: 'roster 1', timeoutMs: 30_000 });
    await gateway.stop();
    gateway = undefined;
    // Two versions while the gateway is off: the delta it could follow is gone, so it takes a snapshot.
    await importCards(3);
    const latest = await importCards(4);
    gateway = await startGateway();
    await until(() => gateway?.roster.view?.version === latest, {
      what: `roster ${latest}`,
      timeoutMs: 30_000,
    });
    await gateway.stop();
    gateway = undefined;
    expect((await rosterFiles()).sort()).toEqual([
      'snapshot-0000000001.body.json',
      'snapshot-0000000001.manifest.json',
      `snapshot-${String(latest).padStart(10, '0')}.body.json`,
      `snapshot-${String(latest).padStart(10, '0')}.manifest.json`,
    ]);

    const body = join(dataDir, 'roster', `snapshot-${String(latest).padStart(10, '0')}.body.json`);
    const bytes = await readFile(body);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] as number) ^ 0x01;
    await writeFile(body, bytes);

    gateway = await startGateway();
    expect(lines.find((l) => String(l.msg).startsWith('roster files damaged'))).toMatchObject({
      msg: 'roster files damaged: version 1 in force until a fresh snapshot arrives',
      lostVersion: latest,
      usedVersion: 1,
    });
    await until(() => gateway?.roster.view?.version === latest, {
      what: 'the fresh snapshot',
      timeoutMs: 30_000,
    });
    // The roster is in force a moment before the fetch that brought it says so.
    await until(() => lines.some((l) => l.msg === 'fresh roster snapshot fetched after damage'), {
      what: 'the fetch after damage logged',
    });
    expect(gateway.roster.view?.byCardId(card(4).cardId)).toBeDefined();
    expect(
      (await readdir(join(dataDir, 'roster', 'quarantine'))).filter((n) => !n.endsWith('.why.json')),
    ).toEqual([
      expect.stringMatching(new RegExp(`^snapshot-${String(latest).padStart(10, '0')}\\.body\\.json\\.`)),
      expect.stringMatching(new RegExp(`^snapshot-${String(latest).padStart(10, '0')}\\.manifest\\.json\\.`)),
    ]);
    // The bridge heard of it (roster.rejected, with the damage) and of the fresh roster applied after.
    const store = bridge?.store as Bridge['store'];
    await until(() => store.queryEvents({ device: DEVICE, type: 'roster.applied', limit: 10 }).length === 3, {
      what: 'the fresh roster applied at the bridge',
    });
    const [rejected] = store.queryEvents({ device: DEVICE, type: 'roster.rejected', limit: 10 });
    expect(rejected?.record.data).toMatchObject({
      version: latest,
      reason: expect.stringContaining('version 1 in force until a fresh snapshot arrives'),
    });
    const alarms = (await admin(bridge?.httpUrl as string, '/v1/ops/alarms')).alarms as {
      kind: string;
      open: boolean;
    }[];
    expect(alarms.filter((a) => a.kind === 'roster.rejected')).toMatchObject([{ open: false }]);
  }, 120_000);
});
