import { mkdir, mkdtemp, rm } from 'node:fs/promises';
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
import type { KeyRole } from '@educard/terminal-sdk';
import { sampleCard } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, enrollDevice, startBridge } from '../support/bridge.js';
import { type Scrape, scrape } from '../support/metrics.js';
import { validAroundNow } from '../support/school-day.js';

/**
 * A gate's /metrics, scraped while cards are tapped and read by a Prometheus text-format parser: taps
 * counted by decision and reason (two hundred strangers' cards are one series, not two hundred), the
 * decision latency and the journal's fsyncs timed, the backlog back to 0 once the bridge acknowledged,
 * the reader, roster and uplink as they stand. The listener takes only its token and only GET /metrics.
 */

const SCHOOL = 'school-1';
const TOKEN = 'gateway-metrics-token-0123456789';
const valid = validAroundNow();
const pupils = [1, 2, 3].map((n) => sampleCard(n, { ...valid, schedules: [], zones: ['main-gate'] }));
const lost = sampleCard(4, { ...valid, schedules: [], zones: ['main-gate'], status: 'lost' });

let dir: string;
let bridge: Bridge | undefined;
let gateway: Gateway;
let url: string;

const read = () => scrape(url, TOKEN);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gateway-metrics-'));
  const running = await startBridge(join(dir, 'bridge'));
  bridge = running;
  await admin(running.httpUrl, `/v1/roster/${SCHOOL}/import`, { cards: [...pupils, lost] });
  const dataDir = join(dir, 'gate');
  const enrolled = await enrollDevice(running.httpUrl, dataDir, 'gate-01');
  const anchor = (await (await fetch(`${running.httpUrl}/v1/roster/anchor`)).json()) as KeyRole;
  await mkdir(join(dataDir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dataDir, 'roster'), anchor);
  gateway = await Gateway.start({
    config: parseConfig({
      device: { id: 'gate-01', school: SCHOOL },
      dataDir,
      station: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
      readers: { simulated: ['sim-in'], bindings: [{ pattern: 'sim-in', direction: 'in' }] },
      uplink: {
        url: enrolled.url,
        username: enrolled.username,
        password: enrolled.password,
        bridgeHttp: running.httpUrl,
      },
      metrics: { host: '127.0.0.1', port: 0, token: TOKEN },
    }),
    logger: createLogger('gate-01', { level: process.env.EDUCARD_TEST_LOG ?? 'silent' }),
  });
  url = gateway.metricsUrl as string;
  await until(() => gateway.roster.view?.version === 1, { what: 'the roster applied' });
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await bridge?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("a gateway's /metrics", () => {
  it('counts taps by decision and reason, times them and the journal, and shows the backlog drained', {
    timeout: 60_000,
  }, async () => {
    const before = await read();
    const moved = (after: Scrape, name: string, labels?: Record<string, string>) =>
      (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
    const driver = gateway.readers as SimulatedReaderDriver;
    const scrapes: Scrape[] = [];
    const strangers = 200;
    for (let n = 0; n < strangers; n++) {
      for (const pupil of pupils) driver.present('sim-in', { uid: pupil.credential.uid as string });
      driver.present('sim-in', { uid: `04${n.toString(16).toUpperCase().padStart(12, '0')}` });
      if (n % 50 === 0) scrapes.push(await read());
    }
    driver.present('sim-in', { uid: lost.credential.uid as string });
    expect(scrapes).toHaveLength(strangers / 50);

    await until(async () => (await read()).value('educard_gateway_journal_backlog') === 0, {
      what: 'every tap acknowledged by the bridge',
      timeoutMs: 30_000,
    });
    const after = await read();
    const taps = strangers * (pupils.length + 1) + 1;
    expect(moved(after, 'educard_gateway_taps_total', { decision: 'grant', reason: 'ok' })).toBe(
      strangers * pupils.length,
    );
    expect(moved(after, 'educard_gateway_taps_total', { decision: 'deny', reason: 'unknown-card' })).toBe(
      strangers,
    );
    expect(moved(after, 'educard_gateway_taps_total', { decision: 'deny', reason: 'lost' })).toBe(1);
    // Two hundred different cards, three series: decisions and reasons label the taps, cards never do.
    expect(after.samples('educard_gateway_taps_total')).toHaveLength(3);
    const decisions = after.samples('educard_gateway_decision_seconds')[0];
    const decisionsBefore = before.samples('educard_gateway_decision_seconds')[0];
    expect(Number(decisions?.count) - Number(decisionsBefore?.count ?? 0)).toBe(taps);
    expect(Number(decisions?.sum)).toBeGreaterThan(0);
    const fsyncs = after.samples('educard_gateway_journal_fsync_seconds')[0];
    expect(Number(fsyncs?.count)).toBeGreaterThan(0);
    // Group commit: fewer fsyncs than records.
    expect(Number(fsyncs?.count)).toBeLessThan(after.value('educard_gateway_journal_last_seq') ?? 0);
    expect(after.value('educard_gateway_journal_acked_seq')).toBe(
      after.value('educard_gateway_journal_last_seq'),
    );
    expect(after.value('educard_gateway_journal_oldest_unacked_age_seconds')).toBe(0);
    expect(after.value('educard_gateway_journal_write_failures_total')).toBe(0);
    expect(after.value('educard_gateway_journal_disk_low')).toBe(0);
    expect(after.value('educard_gateway_reader_connected', { reader: 'sim-in' })).toBe(1);
    expect(after.value('educard_gateway_uplink_connected')).toBe(1);
    expect(after.value('educard_gateway_roster_version')).toBe(1);
    expect(after.value('educard_gateway_roster_cards')).toBe(4);
    expect(after.value('educard_gateway_roster_expiry_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000);
    expect(after.value('educard_gateway_info', { station: 'gate', firmware: '0.1.0' })).toBe(1);
    expect(after.value('educard_gateway_emergency_release')).toBe(0);
    expect(after.value('educard_gateway_lockdown')).toBe(0);

    const text = await (await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    for (const card of [...pupils, lost]) {
      expect(text).not.toContain(card.cardId);
      expect(text).not.toContain(card.personId);
    }
  });

  it('answers only GET /metrics, and only with its token', async () => {
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(
      401,
    );
    expect(
      (await fetch(url.replace('/metrics', '/'), { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(404);
    expect(
      (await fetch(url, { method: 'POST', body: 'x', headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(404);
  });

  it('shows a lockdown the bridge ordered, and its lifting', { timeout: 30_000 }, async () => {
    const base = bridge?.httpUrl as string;
    await admin(base, `/v1/schools/${SCHOOL}/lockdown`, { active: true, reason: 'drill' });
    await until(async () => (await read()).value('educard_gateway_lockdown') === 1, { what: 'the lockdown' });
    await admin(base, `/v1/schools/${SCHOOL}/lockdown`, { active: false });
    await until(async () => (await read()).value('educard_gateway_lockdown') === 0, { what: 'the lifting' });
  });

  it('shows the uplink down when the bridge goes away', { timeout: 30_000 }, async () => {
    await bridge?.stop();
    bridge = undefined;
    await until(async () => (await read()).value('educard_gateway_uplink_connected') === 0, {
      what: 'the uplink seen down',
    });
    (gateway.readers as SimulatedReaderDriver).present('sim-in', {
      uid: pupils[0]?.credential.uid as string,
    });
    await until(async () => ((await read()).value('educard_gateway_journal_backlog') ?? 0) > 0, {
      what: 'the tap held in the journal',
    });
    const held = await read();
    const age = held.value('educard_gateway_journal_oldest_unacked_age_seconds') ?? -1;
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(60);
  });
});
