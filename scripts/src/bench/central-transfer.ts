import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CentralTestServer } from '@educard/cloud-bridge/testing';
import { createLogger, Gateway, type SimulatedReaderDriver } from '@educard/gateway';
import { sampleUid } from '@educard/terminal-sdk/testing';
import { api, enrolledGateway, startBridge } from './bridge-process.js';
import { atMost, type BenchResult, info, median, percentile } from './report.js';

const SAMPLES = 100;
const TARGET_MS = 1000;
const DAY = 86_400_000;
const UID = sampleUid(1);
const quiet = createLogger('bench', { level: 'silent' });

const calendar = { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] };
const school = (id: string) => ({ kind: 'school', changeId: `c-${id}`, id, name: id, calendar });
const pupil = (at: string, n: number) => ({
  kind: 'person',
  changeId: `c-person-${n}`,
  id: 'p1',
  school: at,
  role: 'student',
  name: 'Pupil 1',
  studentNumber: 'G110101201501010001',
  class: at === 's-a' ? '3-1' : '5-2',
});
const card = (n: number, extra: Record<string, unknown> = {}) => ({
  kind: 'card',
  changeId: `c-card-${n}`,
  cardId: 'E000000001',
  personId: 'p1',
  credential: { kind: 'uid', uid: UID },
  status: 'active',
  validFrom: new Date(Date.now() - 30 * DAY).toISOString(),
  validUntil: new Date(Date.now() + 300 * DAY).toISOString(),
  zones: ['main-gate'],
  schedules: [],
  ...extra,
});

/** The gate's decision on the card held to its reader now. */
function decision(gateway: Gateway): string {
  let reason = '';
  const off = gateway.station.events.on('tap', (outcome) => {
    reason = outcome.decision.reason;
  });
  (gateway.readers as SimulatedReaderDriver).present('sim-in', { uid: UID });
  off();
  return reason;
}

/**
 * A pupil moved between two schools 100 times through the change feed, the three forms in turn (their
 * person record; it and the card record; the card record naming the new school), with a real bridge
 * process, the test central system and a gate gateway at each school: from asking the bridge to pull
 * the page until the old school's gate denies the card as transferred and the new school's grants it.
 */
export async function centralTransferBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-transfer-'));
  const central = await CentralTestServer.start();
  const bridge = await startBridge(dir, {
    config: {
      central: { mode: 'api', url: central.url, token: central.token, feed: { intervalMs: 3_600_000 } },
    },
  });
  const gateways: Gateway[] = [];
  try {
    central.changes.push(school('s-a'), school('s-b'), pupil('s-a', 0), card(0));
    await api(bridge, '/v1/central/feed/pull', {});
    for (const [device, at] of [
      ['gate-a', 's-a'],
      ['gate-b', 's-b'],
    ] as const)
      gateways.push(
        await Gateway.start({ config: await enrolledGateway(bridge, dir, device, at), logger: quiet }),
      );
    const [gateA, gateB] = gateways as [Gateway, Gateway];
    const deadline = Date.now() + 30_000;
    while (decision(gateA) !== 'ok' || !gateB.roster.view) {
      if (Date.now() > deadline) throw new Error('the gates did not take their first rosters');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const samples: number[] = [];
    for (let n = 1; n <= SAMPLES; n++) {
      const to = n % 2 ? 's-b' : 's-a';
      const [leaving, joining] = n % 2 ? [gateA, gateB] : [gateB, gateA];
      const form = n % 3;
      central.changes.push(
        ...(form === 0 ? [pupil(to, n)] : form === 1 ? [pupil(to, n), card(n)] : [card(n, { school: to })]),
      );
      // Waiting reads the roster in force (in memory): taps while waiting would load the bridge with
      // their events. A decision follows at once from the roster in force, and is checked after.
      const held = [leaving, joining].map((gateway) => gateway.roster.view?.version ?? 0);
      const asked = performance.now();
      // The gates are watched from the request on: the pull answers only after its own bookkeeping.
      const pulled = api(bridge, '/v1/central/feed/pull', {});
      while (
        [leaving, joining].some((gateway, i) => (gateway.roster.view?.version ?? 0) <= (held[i] as number))
      ) {
        if (performance.now() - asked > 10_000) throw new Error(`transfer ${n} did not reach both gates`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const took = performance.now() - asked;
      const answer = await pulled;
      if (answer.problems !== 0) throw new Error(`transfer ${n} was refused: ${JSON.stringify(answer)}`);
      if (decision(leaving) !== 'transferred' || decision(joining) !== 'ok')
        throw new Error(`transfer ${n}: the gates did not decide as the transfer says`);
      samples.push(took);
    }
    return [
      atMost('central.transfer.applied_p99_ms', percentile(samples, 99), 'ms', TARGET_MS),
      info('central.transfer.applied_median_ms', median(samples), 'ms'),
    ];
  } finally {
    for (const gateway of gateways) await gateway.stop();
    await bridge.stop();
    await central.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
