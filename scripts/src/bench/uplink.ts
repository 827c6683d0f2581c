import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, Gateway, Journal, type SimulatedReaderDriver } from '@educard/gateway';
import type { EventBody } from '@educard/terminal-sdk';
import { gateDecisionData, sampleCard } from '@educard/terminal-sdk/testing';
import mqtt from 'mqtt';
import { startBareBroker, startMosquitto, until } from '../support/index.js';
import { api, enrolledGateway, type RunningBridge, startBridge } from './bridge-process.js';
import { atLeast, atMost, type BenchResult, info, median, percentile } from './report.js';

const quiet = createLogger('bench', { level: 'silent' });

function tapEvent(i: number): EventBody {
  return {
    type: 'gate.decision',
    at: new Date().toISOString(),
    clock: 'synced',
    data: gateDecisionData({
      cardId: `E${String(i).padStart(9, '0')}`,
      credential: 'uid',
      personId: `p${String(i).padStart(7, '0')}`,
      cardStatus: 'active',
      flags: ['uid-only'],
    }),
  };
}

/** A provisioned, enrolled gateway whose journal already holds `backlog` events, not yet started. */
export async function prepareGateway(bridge: RunningBridge, dir: string, device: string, backlog: number) {
  await mkdir(join(dir, device, 'journal'), { recursive: true });
  const journal = await Journal.open({
    dir: join(dir, device, 'journal'),
    device,
    logger: quiet,
    minFreeBytes: 0,
  });
  for (let i = 0; i < backlog; i++) {
    journal.append(tapEvent(i));
    if (i % 1000 === 999) await journal.flush();
  }
  await journal.close();
  return enrolledGateway(bridge, dir, device);
}

export async function drained(gateways: Gateway[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!gateways.every((g) => g.journal.stats().ackedSeq === g.journal.stats().lastSeq)) {
    if (Date.now() > deadline) throw new Error('the gateways did not drain in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** aedes's own QoS 1 pass-through, the ceiling the ingest figure is compared against. */
async function rawAedes(): Promise<number> {
  const broker = await startBareBroker();
  try {
    return await rawPassThrough(broker.url);
  } finally {
    await broker.close();
  }
}

/** A broker's QoS 1 pass-through, one publisher to one subscriber, 300-byte messages. */
async function rawPassThrough(url: string): Promise<number> {
  const subscriber = await mqtt.connectAsync(url, { clientId: 'sub' });
  const publisher = await mqtt.connectAsync(url, { clientId: 'pub' });
  await subscriber.subscribeAsync('bench/raw', { qos: 1 });
  const total = 50_000;
  let received = 0;
  subscriber.on('message', () => {
    received += 1;
  });
  const payload = Buffer.alloc(300, 0x61);
  const started = performance.now();
  for (let i = 0; i < total; i++) publisher.publish('bench/raw', payload, { qos: 1 });
  await until(() => received === total, {
    what: `${total} QoS 1 messages through the broker (${received} so far)`,
    timeoutMs: 120_000,
    everyMs: 5,
  });
  const rate = total / ((performance.now() - started) / 1000);
  await publisher.endAsync();
  await subscriber.endAsync();
  return rate;
}

const INGEST_ROUNDS = 3;

/**
 * Ten gateways with 20,000 events each, connecting at once: events per second until every one is
 * stored and acknowledged. That many, so that their start-up does not weigh on the figure; the
 * median of three rounds, each with fresh gateways, since one round on this machine varies by 15%.
 */
export async function ingestRate(
  bridge: RunningBridge,
  dir: string,
  { rounds = INGEST_ROUNDS, name = 'r' }: { rounds?: number; name?: string } = {},
): Promise<number> {
  const rates: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const configs = [];
    for (let i = 0; i < 10; i++)
      configs.push(await prepareGateway(bridge, dir, `gate-${name}${round}-${i}`, 20_000));
    const started = performance.now();
    const gateways = await Promise.all(configs.map((config) => Gateway.start({ config, logger: quiet })));
    await drained(gateways, 300_000);
    const total = gateways.reduce((sum, g) => sum + g.journal.stats().lastSeq, 0);
    rates.push(total / ((performance.now() - started) / 1000));
    await Promise.all(gateways.map((g) => g.stop()));
    for (const config of configs) await rm(config.dataDir, { recursive: true, force: true });
  }
  return median(rates);
}

/** The same ingest with Mosquitto, a separate process, as the broker between gateways and bridge. */
async function mosquittoIngest(dir: string): Promise<BenchResult[]> {
  await mkdir(dir, { recursive: true });
  // No limit on queued messages: the default (1,000 per client) drops the raw pass-through's burst;
  // the ingest keeps its own window and does not come near it either way.
  const mosquitto = await startMosquitto(dir, { maxQueued: 0 });
  try {
    const raw = await rawPassThrough(mosquitto.url);
    const bridge = await startBridge(dir, { brokerUrl: mosquitto.url });
    try {
      return [
        info('uplink.broker.mosquitto_raw_msgs_per_s', raw, 'msgs/s'),
        atLeast('uplink.ingest.mosquitto_events_per_s', await ingestRate(bridge, dir), 'events/s', 20_000),
      ];
    } finally {
      await bridge.stop();
    }
  } finally {
    await mosquitto.stop();
  }
}

export async function uplinkBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-uplink-'));
  const bridge = await startBridge(dir);
  const results: BenchResult[] = [];
  try {
    results.push(info('uplink.broker.raw_msgs_per_s', await rawAedes(), 'msgs/s'));

    results.push(atLeast('uplink.ingest.events_per_s', await ingestRate(bridge, dir), 'events/s', 20_000));

    // One gateway that was offline while 100,000 events accumulated.
    const offline = await prepareGateway(bridge, dir, 'gate-offline', 100_000);
    const reconnected = performance.now();
    const gateway = await Gateway.start({ config: offline, logger: quiet });
    await drained([gateway], 120_000);
    results.push(atMost('uplink.drain.100k_s', (performance.now() - reconnected) / 1000, 's', 60));

    // Card reported lost through the API until the next tap at a connected gateway is denied.
    await api(bridge, '/v1/roster/school-1/import', { cards: [sampleCard(1, { schedules: [] })] });
    const live = gateway;
    const deadline = Date.now() + 10_000;
    while (live.roster.view?.version !== 1 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    const driver = live.readers as SimulatedReaderDriver;
    const card = sampleCard(1);
    const samples: number[] = [];
    for (let i = 0; i < 40; i++) {
      const status = i % 2 === 0 ? 'lost' : 'reactivate';
      const expected = i % 2 === 0 ? 'lost' : 'ok';
      const reported = performance.now();
      await api(bridge, `/v1/cards/${card.cardId}/${status}`, {});
      for (;;) {
        let reason = '';
        const off = live.station.events.on('tap', (outcome) => {
          reason = outcome.decision.reason;
        });
        driver.present('sim-in', { uid: card.credential.uid as string });
        off();
        if (reason === expected) break;
        if (performance.now() - reported > 10_000) throw new Error('revocation did not arrive');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      samples.push(performance.now() - reported);
    }
    results.push(atMost('uplink.revocation.p99_ms', percentile(samples, 99), 'ms', 1000));
    results.push(info('uplink.revocation.median_ms', median(samples), 'ms'));
    await gateway.stop();
    await bridge.stop();
    results.push(...(await mosquittoIngest(join(dir, 'mosquitto'))));
  } finally {
    await bridge.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return results;
}
