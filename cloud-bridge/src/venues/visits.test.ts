import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { migrateVenues } from './tables.js';
import { admissionProjection, venueDays } from './visits.js';

// The fixtures' own days: nothing here depends on the day the test runs.
const DAY = '2027-03-15';
const NEXT_DAY = '2027-03-16';
const ISSUER = '0123456789abcdef';

let dir: string;
let store: BridgeStore;
const chains = new Map<string, { seq: number; hash: string }>();

type Tap =
  | { visit: { card: string; day: string; reentry?: boolean; booking?: string } }
  | { refused: { card: string; day: string } };

/** A venue gateway's taps at `venue`, chained on from what it sent before, committed as ingest would. */
function commit(device: string, site: string, venue: string, taps: Tap[]): void {
  const records: EventRecord[] = chainRecords(
    device,
    taps.map((tap, i) => {
      const common = { venue, reader: 'door-in', flags: [] };
      if ('visit' in tap) {
        const { card, day, reentry, booking } = tap.visit;
        return {
          type: 'venue.visit',
          at: `${day}T01:00:0${i}.000Z`,
          data: {
            ...common,
            cardId: card,
            issuer: ISSUER,
            day,
            ...(reentry ? { reentry } : {}),
            ...(booking ? { booking } : {}),
          },
        };
      }
      const { card, day } = tap.refused;
      return {
        type: 'venue.refused',
        at: `${day}T01:00:0${i}.000Z`,
        data: { ...common, cardId: card, credential: 'uid', day, reason: 'unknown-card' },
      };
    }),
    chains.get(device),
  );
  const last = records.at(-1);
  if (last) chains.set(device, { seq: last.seq, hash: last.hash });
  store.commitRecords(device, site, records);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'venue-visits-'));
  store = openTestStore(join(dir, 'bridge.db'));
  chains.clear();
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

it('counts a venue’s day: each visitor once, re-entries, class visits and refusals, per site', () => {
  migrateVenues(store.database);
  store.addCommitProjection(admissionProjection(store.database));
  commit('museum-gw', 'museum', 'science-museum', [
    { visit: { card: 'E000000001', day: DAY, booking: 'class-3a' } },
    { visit: { card: 'E000000002', day: DAY, booking: 'class-3a' } },
    { visit: { card: 'E000000001', day: DAY, reentry: true, booking: 'class-3a' } },
    { visit: { card: 'E000000003', day: DAY } },
    { refused: { card: '04A1B2C3', day: DAY } },
    { visit: { card: 'E000000004', day: NEXT_DAY, booking: 'class-4b' } },
  ]);
  commit('library-gw', 'library', 'city-library', [{ visit: { card: 'E000000005', day: DAY } }]);

  const museumDay = {
    site: 'museum',
    venue: 'science-museum',
    day: DAY,
    visits: 3,
    reentries: 1,
    classes: 1,
    refused: 1,
  };
  const museumNextDay = { ...museumDay, day: NEXT_DAY, visits: 1, reentries: 0, refused: 0 };
  const libraryDay = {
    site: 'library',
    venue: 'city-library',
    day: DAY,
    visits: 1,
    reentries: 0,
    classes: 0,
    refused: 0,
  };
  // Newest day first, then by site and venue.
  expect(venueDays(store.database, { fromDay: DAY })).toEqual([museumNextDay, libraryDay, museumDay]);
  expect(venueDays(store.database, { fromDay: DAY, site: 'museum' })).toEqual([museumNextDay, museumDay]);
  expect(venueDays(store.database, { fromDay: NEXT_DAY })).toEqual([museumNextDay]);
});

it('back-fills the admissions stored before the module came, as the projection would have kept them', () => {
  commit('museum-gw', 'museum', 'science-museum', [
    { visit: { card: 'E000000001', day: DAY, booking: 'class-3a' } },
    { visit: { card: 'E000000001', day: DAY, reentry: true, booking: 'class-3a' } },
    { refused: { card: '04A1B2C3', day: DAY } },
  ]);
  migrateVenues(store.database);
  store.addCommitProjection(admissionProjection(store.database));
  commit('museum-gw', 'museum', 'science-museum', [{ visit: { card: 'E000000002', day: DAY } }]);

  expect(venueDays(store.database, { fromDay: DAY })).toEqual([
    { site: 'museum', venue: 'science-museum', day: DAY, visits: 2, reentries: 1, classes: 1, refused: 1 },
  ]);
  // Counted, and no card named: where a pupil went stays in the events, for their retention only.
  const columns = Object.keys(
    store.database.prepare('SELECT * FROM venue_admissions LIMIT 1').get() as object,
  );
  expect(columns.sort()).toEqual(['admitted', 'booking', 'day', 'event_id', 'reentry', 'site', 'venue']);
  const rows = store.database
    .prepare('SELECT admitted, reentry, booking FROM venue_admissions ORDER BY event_id')
    .all();
  expect(rows).toEqual([
    { admitted: 1, reentry: 0, booking: 'class-3a' },
    { admitted: 1, reentry: 1, booking: 'class-3a' },
    { admitted: 0, reentry: 0, booking: null },
    { admitted: 1, reentry: 0, booking: null },
  ]);
});
