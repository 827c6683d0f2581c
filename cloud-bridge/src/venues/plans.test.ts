import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BareBroker, startBareBroker } from '@educard/scripts/support';
import { sampleCard } from '@educard/terminal-sdk/testing';
import mqtt, { type MqttClient } from 'mqtt';
import { pino } from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { AuditEntry } from '../access/index.js';
import { Retention, RetentionConfig } from '../retention/index.js';
import { RosterKeyring } from '../roster/index.js';
import { commitSignedRoster } from '../store/conformance.js';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { forgetBookingsBefore, VenuePlans } from './plans.js';
import { migrateVenues } from './tables.js';

// Class visits booked at a venue name their pupils' cards: the plans and bookings keep them no longer
// than the venue's visit events. On a set clock: 2026-03-02 is the day bookings are made.

const DAY = 86_400_000;
const BOOKED = Date.parse('2026-03-02T02:00:00.000Z');
const date = (ms: number) => new Date(ms).toISOString().slice(0, 10);

let dir: string;
let broker: BareBroker;
let store: BridgeStore;
let client: MqttClient;
let clock = BOOKED;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'venue-plans-'));
  broker = await startBareBroker();
  store = openTestStore(join(dir, 'bridge.db'));
  migrateVenues(store.database);
  client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  const cards = [sampleCard(1, { class: '3-1' }), sampleCard(2, { class: '3-1', role: 'teacher' })];
  commitSignedRoster(store, 'school-1', cards, new Date(BOOKED).toISOString());
});
afterEach(async () => {
  await client.endAsync(true);
  store.close();
  await broker.close();
  await rm(dir, { recursive: true, force: true });
});

it('keeps the latest plan only, and forgets past visits with their cards once their events would go', async () => {
  clock = BOOKED;
  const plans = new VenuePlans({
    store,
    client,
    keys: await RosterKeyring.open(dir),
    logger: pino({ level: 'silent' }),
    now: () => new Date(clock),
  });
  const visit = (on: number) => ({
    school: 'school-1',
    class: '3-1',
    date: date(on),
    from: '09:00',
    until: '11:00',
  });
  const soon = await plans.book('museum-1', visit(BOOKED + DAY), 'admin');
  const later = await plans.book('museum-1', visit(BOOKED + 60 * DAY), 'admin');
  await plans.book('library-1', visit(BOOKED + DAY), 'admin');
  const planVersions = () =>
    store.database.prepare('SELECT venue, version FROM venue_plans ORDER BY venue, version').all();
  expect(planVersions()).toEqual([
    { venue: 'library-1', version: 1 },
    { venue: 'museum-1', version: 2 },
  ]);

  // 181 days after the first visits (venue events are kept 180 days; the library's 365 here).
  clock = BOOKED + 182 * DAY;
  const audited: AuditEntry[] = [];
  const retention = new Retention({
    db: store.database,
    config: RetentionConfig.parse({ schools: { 'library-1': { 'venue.*': 365 } } }),
    central: 'off',
    audit: { record: (entry) => audited.push(entry) },
    logger: pino({ level: 'silent' }),
    now: () => new Date(clock),
    forgetBookings: (cutoffOf) => forgetBookingsBefore(store.database, cutoffOf),
  });
  const report = await retention.runOnce();
  expect(report.bookingsForgotten).toBe(1);
  expect(plans.booking(soon.booking.bookingId)).toBeUndefined();
  expect(plans.booking(later.booking.bookingId)?.pupils).toEqual(['E000000001']);
  expect(plans.bookings('library-1')).toHaveLength(1);
  expect(audited).toEqual([
    expect.objectContaining({
      action: 'retention.purge',
      target: 'venue.booking',
      school: 'museum-1',
      detail: { bookings: 1, upTo: new Date(clock - 180 * DAY).toISOString() },
    }),
  ]);
  expect(planVersions()).toEqual([
    { venue: 'library-1', version: 1 },
    { venue: 'museum-1', version: 2 },
  ]);
});
