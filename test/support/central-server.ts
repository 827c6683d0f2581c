import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { type EventRecord, GENESIS_HASH, signBatch, topics } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { admin, enrollDevice } from './bridge.js';

/**
 * The test central system lives in cloud-bridge (src/central/testing.ts) so that the benchmark in
 * scripts/ can use it too; tests take it from here.
 */
export { CentralTestServer } from '@educard/cloud-bridge/testing';

/** A bridge config section pointing at a test central system, with short timings for tests. */
export function centralConfig(
  central: { url: string; token: string },
  overrides: { timeoutMs?: number; push?: Record<string, unknown>; feed?: Record<string, unknown> } = {},
) {
  return {
    mode: 'api',
    url: central.url,
    token: central.token,
    timeoutMs: overrides.timeoutMs ?? 2000,
    feed: { intervalMs: 3_600_000, ...overrides.feed },
    push: {
      intervalMs: 20,
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      maxAttempts: 3,
      unreachableAlarmMs: 3_600_000,
      ...overrides.push,
    },
  };
}

/** Chained records of one device, `at` as given for each. */
export function chainedRecords(
  device: string,
  times: string[],
  from: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): EventRecord[] {
  return chainRecords(
    device,
    times.map((at) => ({ type: 'gate.decision', at, data: gateDecisionData({ personId: `p-${device}` }) })),
    from,
  );
}

/**
 * An enrolled device that sends signed event batches to the bridge over MQTT: the bridge's real
 * ingest path, without a whole gateway.
 */
export async function deviceSender(bridge: Bridge, dir: string, device: string, school = 'school-1') {
  const enrolled = await enrollDevice(bridge.httpUrl, join(dir, device), device, school);
  const client: MqttClient = await mqtt.connectAsync(bridge.mqttUrl, {
    clientId: device,
    username: enrolled.username,
    password: enrolled.password,
    reconnectPeriod: 0,
  });
  return {
    async send(records: EventRecord[], batchSize = 100): Promise<void> {
      for (let i = 0; i < records.length; i += batchSize) {
        const batch = signBatch(device, school, records.slice(i, i + batchSize), enrolled.identity.key);
        await client.publishAsync(topics.events(school, device), JSON.stringify(batch), { qos: 1 });
      }
    },
    /** Publishes anything on the device's events topic, as the device: a forged or broken batch. */
    async publish(payload: string): Promise<void> {
      await client.publishAsync(topics.events(school, device), payload, { qos: 1 });
    },
    close: () => client.endAsync(),
  };
}

export async function centralStatus(bridgeHttp: string, school?: string) {
  return (await admin(bridgeHttp, `/v1/central/status${school ? `?school=${school}` : ''}`)) as {
    mode: string;
    feed?: { cursor?: string; problems: number; latestProblems: { changeId: string; problem: string }[] };
    push?: {
      pending: number;
      lagSeconds: number;
      deadLetters: number;
      delivered: number;
      lastError?: string;
      devices: { device: string; pending: number; oldestAt: string }[];
    };
  };
}

/** The records in the central file exchange's JSON lines files in `outbox`, in the files' order. */
export async function exportedRecords(outbox: string): Promise<{ device: string; seq: number }[]> {
  const names = (await readdir(outbox).catch(() => [] as string[]))
    .filter((n) => n.endsWith('.jsonl'))
    .sort();
  const texts = await Promise.all(names.map((name) => readFile(join(outbox, name), 'utf8')));
  return texts
    .flatMap((text) => text.trim().split('\n'))
    .map((line) => (JSON.parse(line) as { record: { device: string; seq: number } }).record);
}
