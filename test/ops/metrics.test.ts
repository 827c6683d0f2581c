import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { until } from '@educard/scripts/support';
import { generateKeyPair, signBatch } from '@educard/terminal-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBridge } from '../support/bridge.js';
import { CentralTestServer, centralConfig, chainedRecords, deviceSender } from '../support/central-server.js';
import { type Scrape, scrape } from '../support/metrics.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

/**
 * The bridge's /metrics under load, read by a Prometheus text-format parser: each counter moves by
 * exactly what the test did (batches stored, duplicates, a gap and its resend request, refusals by
 * reason, events taken by the central system, notice deliveries and their retry), and with a
 * thousand devices only the per-device gauges grow, one series per device.
 */

const SCHOOL = 'school-1';
const METRICS_TOKEN = 'metrics-scrape-token-0123456789';
const SECRET = 'parent-notices-secret-0123456789abcdef';
const DEVICES = ['gate-01', 'gate-02', 'gate-03', 'gate-04', 'gate-05'];
const RECORDS = 600;
const BATCH = 50;

let dir: string;
let bridge: Bridge;
let central: CentralTestServer;
let receiver: WebhookReceiver;
let metricsUrl: string;

const read = () => scrape(metricsUrl, METRICS_TOKEN);
const at = (offsetMs = 0) => new Date(Date.now() + offsetMs).toISOString();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'metrics-'));
  central = await CentralTestServer.start();
  receiver = await WebhookReceiver.start(SECRET);
  bridge = await startBridge(join(dir, 'bridge'), {
    metrics: { token: METRICS_TOKEN },
    central: centralConfig(central),
    notices: {
      tickMs: 25,
      webhooks: [
        {
          school: SCHOOL,
          url: receiver.url,
          secret: SECRET,
          debounceMs: 200,
          batchWindowMs: 50,
          maxAttempts: 5,
          timeoutMs: 1000,
          backoff: { initialMs: 50, maxMs: 200 },
        },
      ],
    },
  });
  metricsUrl = `${bridge.httpUrl}/metrics`;
  for (const device of DEVICES)
    bridge.directory.putPerson({
      id: `p-${device}`,
      school: SCHOOL,
      role: 'student',
      name: `Pupil of ${device}`,
      active: true,
    });
}, 60_000);

afterAll(async () => {
  await bridge?.stop();
  await central?.stop();
  await receiver?.down();
  await rm(dir, { recursive: true, force: true });
});

describe("the bridge's /metrics", () => {
  it('answers only with its token: none, a wrong one and the admin token are refused', async () => {
    expect((await fetch(metricsUrl)).status).toBe(401);
    const wrong = await fetch(metricsUrl, { headers: { authorization: 'Bearer not-the-metrics-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    const admin = await fetch(metricsUrl, {
      headers: { authorization: 'Bearer test-admin-token-0123456789' },
    });
    expect(admin.status).toBe(401);
    const scraped = await read();
    expect(scraped.value('educard_bridge_mqtt_connected')).toBe(1);
    expect(scraped.value('educard_bridge_mqtt_hearing')).toBe(1);
    const health = await (await fetch(new URL('/health', metricsUrl))).json();
    expect(health).toMatchObject({ ok: true, mqtt: true, mqttHearing: true });
    expect(scraped.value('process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('is answered while devices send at full rate, and its counters move by what they sent', {
    timeout: 90_000,
  }, async () => {
    const before = await read();
    const counter = (scraped: Scrape, name: string, labels?: Record<string, string>) =>
      scraped.value(name, labels) ?? 0;
    const moved = (after: Scrape, name: string, labels?: Record<string, string>) =>
      counter(after, name, labels) - counter(before, name, labels);
    receiver.failNext('fail');

    const senders = await Promise.all(DEVICES.map((device) => deviceSender(bridge, dir, device)));
    const chains = DEVICES.map((device) =>
      chainedRecords(
        device,
        Array.from({ length: RECORDS }, (_, i) => at(i)),
      ),
    );
    let sending = true;
    const sent = Promise.all(senders.map((sender, i) => sender.send(chains[i] ?? [], BATCH))).finally(() => {
      sending = false;
    });
    // Prometheus scrapes while the devices send: every answer is whole and parses.
    const scrapes: Scrape[] = [];
    while (sending) {
      scrapes.push(await read());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sent;
    expect(scrapes.length).toBeGreaterThan(0);
    const stored = scrapes.map((scraped) => counter(scraped, 'educard_bridge_ingest_records_stored_total'));
    expect(stored).toEqual([...stored].sort((a, b) => a - b));
    const total = DEVICES.length * RECORDS;
    await until(() => bridge.store.countEvents() === total, { what: 'every record stored' });

    // A batch sent twice, one that leaves a gap, one signed by another key, and one that is not JSON.
    const [first] = senders;
    const chain = chains[0] ?? [];
    await first?.send(chain.slice(0, BATCH), BATCH);
    const ahead = chainedRecords('gate-01', [at(), at()], { seq: RECORDS + 5, hash: 'a'.repeat(64) });
    await first?.send(ahead, BATCH);
    const [, second] = senders;
    const stranger = generateKeyPair();
    await second?.publish(
      JSON.stringify(signBatch('gate-02', SCHOOL, chains[1]?.slice(0, 1) ?? [], stranger)),
    );
    await second?.publish('{"this is": not json');
    for (const sender of senders) await sender.close();

    await until(
      async () => {
        const now = await read();
        return (
          moved(now, 'educard_bridge_ingest_batches_total', { outcome: 'rejected' }) === 2 &&
          moved(now, 'educard_bridge_ingest_batches_total', { outcome: 'duplicate' }) === 1 &&
          moved(now, 'educard_bridge_ingest_batches_total', { outcome: 'gap' }) === 1
        );
      },
      { what: 'the duplicate, the gap, the forged and the broken batch counted' },
    );
    const after = await read();
    const batches = (DEVICES.length * RECORDS) / BATCH;
    expect(moved(after, 'educard_bridge_ingest_batches_total', { outcome: 'stored' })).toBe(batches);
    expect(moved(after, 'educard_bridge_ingest_records_stored_total')).toBe(total);
    expect(moved(after, 'educard_bridge_ingest_batches_total', { outcome: 'duplicate' })).toBe(1);
    expect(moved(after, 'educard_bridge_ingest_batches_total', { outcome: 'gap' })).toBe(1);
    expect(moved(after, 'educard_bridge_ingest_resend_requests_total')).toBe(1);
    expect(moved(after, 'educard_bridge_ingest_rejected_batches_total', { reason: 'bad-signature' })).toBe(1);
    expect(moved(after, 'educard_bridge_ingest_rejected_batches_total', { reason: 'malformed' })).toBe(1);
    expect(moved(after, 'educard_bridge_ingest_rejected_batches_total', { reason: 'chain-broken' })).toBe(0);
    const histogram = after.samples('educard_bridge_ingest_batch_records')[0];
    expect(
      Number(histogram?.count) - Number(before.samples('educard_bridge_ingest_batch_records')[0]?.count),
    ).toBe(batches + 2);
    const commits = after.samples('educard_bridge_ingest_commit_seconds')[0];
    expect(Number(commits?.count)).toBe(batches);
    expect(Number(commits?.sum)).toBeGreaterThan(0);
    // The senders never said they were online (no birth message): enrolled, and offline.
    expect(after.value('educard_bridge_devices', { state: 'offline' })).toBe(DEVICES.length);

    // The central system takes every event; the parent notices go out, the first attempt refused.
    await until(async () => (await read()).value('educard_bridge_central_outbox_pending_events') === 0, {
      what: 'the outbox empty',
      timeoutMs: 30_000,
    });
    await until(() => bridge.notices.status()[0]?.pending === 0 && receiver.accepted.size > 0, {
      what: 'every parent notice delivered',
    });
    const settled = await read();
    expect(moved(settled, 'educard_bridge_central_delivered_events_total')).toBe(total);
    expect(settled.value('educard_bridge_central_outbox_lag_seconds')).toBe(0);
    expect(settled.value('educard_bridge_central_dead_letters')).toBe(0);
    expect(
      settled.value('educard_bridge_central_push_last_success_timestamp_seconds', { mode: 'api' }),
    ).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(moved(settled, 'educard_bridge_notice_deliveries_total', { outcome: 'retry' })).toBe(1);
    expect(moved(settled, 'educard_bridge_notice_deliveries_total', { outcome: 'delivered' })).toBe(
      receiver.accepted.size,
    );
    expect(moved(settled, 'educard_bridge_notice_deliveries_total', { outcome: 'given-up' })).toBe(0);
  });

  it('counts the retention purge’s runs, what each removed and what it kept past its time', async () => {
    const before = await read();
    expect(before.value('educard_bridge_retention_runs_total')).toBe(0);
    const report = await bridge.retention.runOnce();
    const after = await read();
    expect(after.value('educard_bridge_retention_runs_total')).toBe(1);
    expect(after.value('educard_bridge_retention_removed_events_total')).toBe(report.removed);
    expect(after.value('educard_bridge_retention_held_events', { reason: 'unacknowledged' })).toBe(
      report.heldUnacknowledged,
    );
    expect(after.value('educard_bridge_retention_held_events', { reason: 'open-loan' })).toBe(0);
    expect(after.value('educard_bridge_retention_last_run_duration_seconds')).toBe(report.durationMs / 1000);
  });

  it('grows by one series per device on the per-device gauges only, with a thousand devices', {
    timeout: 60_000,
  }, async () => {
    const small = await read();
    const seenAt = at();
    const bulk = 1000 - DEVICES.length;
    // Enrolled the store's one way, a token each, made per school at once.
    const tokens = Array.from({ length: 40 }, (_, s) =>
      bridge.store.createTokens(`school-${s + 1}`, Math.ceil(bulk / 40), at(3_600_000)),
    );
    let online = 0;
    for (let n = 0; n < bulk; n++) {
      const id = `bulk-${String(n).padStart(4, '0')}`;
      const token = tokens[n % 40]?.[Math.floor(n / 40)] as string;
      const device = { id, publicKey: 'A'.repeat(43), secretHash: '0'.repeat(64) };
      expect(bridge.store.enrollDevice(token, device, seenAt).ok).toBe(true);
      if (n % 3 !== 0) online += 1;
      bridge.store.recordPresence(id, { online: n % 3 !== 0, bdSeq: 1, at: seenAt, journalBacklog: n % 7 });
      // Lets the bridge's own timers run (its idle connections close as they should, not under a request).
      if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
    const large = await read();
    const perDevice = [
      'educard_bridge_device_online',
      'educard_bridge_device_last_seen_timestamp_seconds',
      'educard_bridge_device_journal_backlog',
    ];
    expect(large.samples('educard_bridge_device_online')).toHaveLength(1000);
    // The five senders never sent a birth message: nothing to say when they were seen or what they held.
    for (const name of perDevice.slice(1))
      expect(large.samples(name), name).toHaveLength(1000 - DEVICES.length);
    for (const [name, family] of large.families) {
      if (perDevice.includes(name) || name === 'educard_bridge_device_roster_version') continue;
      // Every other family is the same size with 5 devices as with 1,000, and small.
      expect(family.metrics.length, name).toBe(small.families.get(name)?.metrics.length ?? 0);
      expect(family.metrics.length, name).toBeLessThan(50);
    }
    expect(large.value('educard_bridge_devices', { state: 'online' })).toBe(online);
    expect(large.value('educard_bridge_devices', { state: 'offline' })).toBe(1000 - online);
    // Labels name devices and schools, never a person or a card.
    const labels = new Set<string>();
    for (const family of large.families.values())
      for (const sample of family.metrics)
        for (const name of Object.keys(sample.labels ?? {})) labels.add(name);
    expect([...labels].sort()).toEqual(expect.arrayContaining(['device', 'school']));
    for (const name of labels) expect(name).not.toMatch(/card|person|pupil|student|name/i);
    const text = await (
      await fetch(metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    expect(text).not.toContain('CARD-');
    expect(text).not.toContain('p-gate-');
  });
});

describe('a bridge without a metrics token', () => {
  it('has no /metrics at all', async () => {
    const plain = await startBridge(join(dir, 'plain'));
    try {
      expect((await fetch(`${plain.httpUrl}/metrics`)).status).toBe(404);
    } finally {
      await plain.stop();
    }
  });
});
