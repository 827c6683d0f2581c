import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type EventRecord,
  generateKeyPair,
  issueVenuePlan,
  keyIdOf,
  type VenuePlan,
} from '@educard/terminal-sdk';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  SAMPLE_MONDAY,
  sampleEduApplet,
  sampleUid,
  TestAuthority,
} from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../config/index.js';
import { type RecordingIO, recordingIoFor } from '../../io/index.js';
import { createLogger } from '../../log/index.js';
import { type SimulatedReaderDriver, simulatedCpuCard } from '../../readers/index.js';
import { RosterStore } from '../../roster/index.js';
import { Gateway } from '../../runtime/index.js';

// A venue through the whole gateway: simulated readers, recorded IO, a real journal and stores. The
// clock is the test's: the sample fixtures' Monday (2026-11-23, Asia/Shanghai), moved by the test.

const PINS = { relay: 4, greenLed: 5, redLed: 6, buzzer: 7 };
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const MONDAY_10AM = SAMPLE_MONDAY + 2 * HOUR;
const A = keyIdOf(SAMPLE_CARD_ISSUER.publicKey);
const B = keyIdOf(SAMPLE_CARD_ISSUER_B.publicKey);
const card = (n: number) => `E${String(n).padStart(9, '0')}`;

let dir: string;
let now: number;
let gateway: Gateway | undefined;
let io: RecordingIO;
let authority: TestAuthority;

/** A pupil of school A (sample issuer), of school B (its own issuer, numbers from 500,000), or from elsewhere. */
const pupil = (
  n: number,
  issuer = n >= 500_000 ? SAMPLE_CARD_ISSUER_B : SAMPLE_CARD_ISSUER,
  at = SAMPLE_MONDAY,
) => simulatedCpuCard(sampleUid(n), sampleEduApplet(n, at, issuer));

async function startVenue(station: Record<string, unknown> = {}) {
  const config = parseConfig({
    device: { id: 'venue-gw', school: 'museum' },
    dataDir: dir,
    station: {
      type: 'venue',
      id: 'science-museum',
      zone: 'museum-door',
      debounceMs: 0,
      hours: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '09:00', end: '17:00' }],
      closures: ['2026-11-25'],
      ...station,
    },
    readers: { simulated: ['door-in', 'door-out'] },
    io: { pins: PINS },
  });
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  io = recordingIoFor(config.io);
  gateway = await Gateway.start({
    config,
    logger: createLogger('venue', { level: 'silent' }),
    io,
    now: () => now,
    synced: () => true,
  });
  return gateway;
}

async function provision(venue: Gateway, lost: number[] = []) {
  await venue.roster.acceptKeySet(authority.keySet());
  const hotlist = authority.hotlist(
    1,
    lost.map((n) => ({ cardNumber: card(n), status: 'lost' as const })),
  );
  await venue.acceptHotlist(hotlist.manifest, hotlist.body);
}

function tap(
  venue: Gateway,
  reader: 'door-in' | 'door-out',
  presented: Parameters<SimulatedReaderDriver['present']>[1],
) {
  let outcome: { decision: string; reason: string; record: EventRecord } | undefined;
  const off = venue.station.events.on('tap', (o) => {
    if (o.record) outcome = { decision: o.decision.decision, reason: o.decision.reason, record: o.record };
  });
  (venue.readers as SimulatedReaderDriver).present(reader, presented);
  (venue.readers as SimulatedReaderDriver).remove(reader);
  off();
  if (!outcome) throw new Error('no decision');
  return outcome;
}
const reasonOf = (venue: Gateway, reader: 'door-in' | 'door-out', presented: Parameters<typeof tap>[2]) =>
  tap(venue, reader, presented).reason;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'venue-'));
  now = MONDAY_10AM;
  authority = new TestAuthority('museum', {
    now: () => now,
    cardIssuers: [SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B],
  });
});
afterEach(async () => {
  await gateway?.stop();
  gateway = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('a venue admits cards by their certificate', () => {
  it('admits genuine cards of two issuers and refuses each fake or revoked one with its reason', async () => {
    const venue = await startVenue();
    await provision(venue, [13]);
    const mark = io.writes.length;
    expect(tap(venue, 'door-in', pupil(1))).toMatchObject({ decision: 'grant', reason: 'ok' });
    expect(io.writesTo(PINS.relay, mark).map((w) => w.value)).toEqual([1]);
    expect(reasonOf(venue, 'door-in', pupil(500_001))).toBe('ok');
    expect(reasonOf(venue, 'door-in', pupil(13))).toBe('lost');
    expect(reasonOf(venue, 'door-in', pupil(2, SAMPLE_CARD_ISSUER, SAMPLE_MONDAY - 6 * 365 * DAY))).toBe(
      'expired',
    );
    expect(reasonOf(venue, 'door-in', pupil(3, generateKeyPair()))).toBe('unknown-issuer');
    // A UID copy of card 1, seen genuine here a moment ago; a UID-only card never seen.
    expect(reasonOf(venue, 'door-in', { uid: sampleUid(1) })).toBe('card-auth-failed');
    expect(reasonOf(venue, 'door-in', { uid: sampleUid(4) })).toBe('uid-only-card');
    expect(reasonOf(venue, 'door-in', { ...pupil(5), fault: 'wrong-key' })).toBe('card-auth-failed');
    await venue.journal.flush();
    const records = (await venue.journal.read(1, 100)).filter((r) => r.type.startsWith('venue.'));
    expect(records.map((r) => [r.type, r.data.cardId, r.data.reason ?? r.data.issuer])).toEqual([
      ['venue.visit', card(1), A],
      ['venue.visit', card(500_001), B],
      ['venue.refused', card(13), 'lost'],
      ['venue.refused', card(2), 'expired'],
      ['venue.refused', card(3), 'unknown-issuer'],
      ['venue.refused', sampleUid(1), 'card-auth-failed'],
      ['venue.refused', sampleUid(4), 'uid-only-card'],
      ['venue.refused', card(5), 'card-auth-failed'],
    ]);
    expect(records[0]?.data).toEqual({
      venue: 'science-museum',
      reader: 'door-in',
      cardId: card(1),
      issuer: A,
      day: '2026-11-23',
      flags: [],
    });
  });

  it('keeps its hours and closures', async () => {
    now = SAMPLE_MONDAY;
    const venue = await startVenue();
    await provision(venue);
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('venue-closed');
    now = MONDAY_10AM;
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('ok');
    now = MONDAY_10AM + 2 * DAY;
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('venue-closed');
  });

  it('refuses everyone until a hotlist has come, and takes a lost card off the door with a delta', async () => {
    const venue = await startVenue();
    await venue.roster.acceptKeySet(authority.keySet());
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('no-hotlist');
    const v1 = authority.hotlist(1, []);
    await venue.acceptHotlist(v1.manifest, v1.body);
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('ok');
    const v2 = authority.hotlist(2, [{ cardNumber: card(1), status: 'lost' }], { fromVersion: 1 });
    await venue.acceptHotlist(v2.manifest, v2.body);
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('lost');
    const forged = authority.hotlist(3, [{ cardNumber: card(1), status: 'removed' }], {
      fromVersion: 2,
      signers: [generateKeyPair()],
    });
    await expect(venue.acceptHotlist(forged.manifest, forged.body)).rejects.toThrow(/unknown-key/);
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('lost');
    await venue.journal.flush();
    const events = (await venue.journal.read(1, 100)).filter((r) => r.type.startsWith('hotlist.'));
    expect(events.map((e) => e.type)).toEqual(['hotlist.applied', 'hotlist.applied', 'hotlist.rejected']);
    expect(venue.report().venue?.hotlist).toMatchObject({ version: 2, entries: 1, expired: false });
  });

  it('drops an issuer the next key set no longer names', async () => {
    const venue = await startVenue();
    await provision(venue);
    expect(reasonOf(venue, 'door-in', pupil(500_002))).toBe('ok');
    await venue.roster.acceptKeySet(authority.rotateCardIssuers([SAMPLE_CARD_ISSUER]));
    expect(reasonOf(venue, 'door-in', pupil(500_003))).toBe('unknown-issuer');
    expect(reasonOf(venue, 'door-in', pupil(6))).toBe('ok');
  });
});

describe("a venue's day", () => {
  it('is full at its capacity; a visitor who went out comes back in; a restart forgets nobody; the next day starts afresh', async () => {
    let venue = await startVenue({ capacity: 3 });
    await provision(venue);
    for (const n of [1, 2, 3]) expect(reasonOf(venue, 'door-in', pupil(n))).toBe('ok');
    expect(reasonOf(venue, 'door-in', pupil(4))).toBe('venue-full');
    now += HOUR;
    const out = tap(venue, 'door-out', pupil(1));
    expect(out).toMatchObject({ decision: 'grant', reason: 'ok' });
    expect(out.record).toMatchObject({ type: 'venue.exit', data: { cardId: card(1), minutes: 60 } });
    expect(tap(venue, 'door-in', pupil(1)).record.data).toMatchObject({ reentry: true });
    await venue.stop();
    venue = await startVenue({ capacity: 3 });
    gateway = venue;
    expect(reasonOf(venue, 'door-in', pupil(4))).toBe('venue-full');
    expect(reasonOf(venue, 'door-in', pupil(2))).toBe('ok');
    expect(venue.report().venue?.today).toMatchObject({ day: '2026-11-23', visits: 3, publicVisits: 3 });
    now = MONDAY_10AM + DAY;
    expect(reasonOf(venue, 'door-in', pupil(4))).toBe('ok');
  });

  it('lets a genuine card out even when it may not come in, and refuses at the exit what proves nothing', async () => {
    const venue = await startVenue();
    await provision(venue, [13]);
    expect(tap(venue, 'door-out', pupil(13))).toMatchObject({ decision: 'grant', reason: 'lost' });
    expect(tap(venue, 'door-out', { uid: sampleUid(9) })).toMatchObject({
      decision: 'deny',
      reason: 'uid-only-card',
    });
  });

  it('admits a booked class once its teacher has tapped, keeps its places, and lets it in on a closure day', async () => {
    const venue = await startVenue({ capacity: 4 });
    await provision(venue);
    const visit = (bookingId: string, date: string, first: number) => ({
      bookingId,
      school: 'school-1',
      class: '3-2',
      date,
      from: '10:00',
      until: '12:00',
      teachers: [card(first)],
      pupils: [card(first + 1), card(first + 2)],
    });
    const plan: VenuePlan = {
      kind: 'venue-plan',
      school: 'museum',
      version: 1,
      issuedAt: new Date(now).toISOString(),
      visits: [visit('b-tue', '2026-11-24', 100), visit('b-wed', '2026-11-25', 200)],
    };
    const issued = issueVenuePlan(plan, {
      expiresAt: new Date(now + 30 * DAY).toISOString(),
      keySetVersion: authority.keySetVersion,
      signers: authority.rosterKeys,
    });
    expect(await venue.venue?.plan.accept(issued.manifest, issued.body)).toMatchObject({ status: 'applied' });
    // Tuesday, open: the class of three holds three of the four places.
    now = MONDAY_10AM + DAY - 15 * 60_000;
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('ok');
    expect(reasonOf(venue, 'door-in', pupil(2))).toBe('venue-full');
    expect(reasonOf(venue, 'door-in', pupil(101))).toBe('class-not-admitted');
    expect(tap(venue, 'door-in', pupil(100)).record.data).toMatchObject({ booking: 'b-tue', teacher: true });
    expect(tap(venue, 'door-in', pupil(101)).record.data).toMatchObject({ booking: 'b-tue' });
    expect(reasonOf(venue, 'door-in', pupil(102))).toBe('ok');
    // Wednesday, closed to visitors: the booked class still comes, in its slot only.
    now = MONDAY_10AM + 2 * DAY;
    expect(reasonOf(venue, 'door-in', pupil(1))).toBe('venue-closed');
    expect(reasonOf(venue, 'door-in', pupil(200))).toBe('ok');
    expect(reasonOf(venue, 'door-in', pupil(201))).toBe('ok');
    now += 3 * HOUR;
    expect(reasonOf(venue, 'door-in', pupil(202))).toBe('venue-closed');
  });
});
