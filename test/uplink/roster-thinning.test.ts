import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { admin, startBridge } from '../support/bridge.js';

/**
 * A school's roster versions each hold the whole roster: the bridge keeps the bodies of the latest and
 * of those a device may still fetch (a grant lasts a day), and thins the older ones to their manifests
 * at the retention purge. On a clock set from the real one.
 */

const HOUR = 3_600_000;
const START = Date.now();
let clock = START;
let dir: string;
let bridge: Bridge;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'roster-thinning-'));
  bridge = await startBridge(dir, {}, { now: () => new Date(clock) });
});
afterAll(async () => {
  await bridge.stop();
  await rm(dir, { recursive: true, force: true });
});

it('thins a version superseded a day ago to its manifest; the latest and its URL serve as before', async () => {
  const cards = [1, 2].map((n) => sampleCard(n, { ...validAround(START), schedules: [] }));
  await admin(bridge.httpUrl, '/v1/roster/school-1/import', { cards });
  clock = START + HOUR;
  await admin(bridge.httpUrl, `/v1/cards/${cards[1]?.cardId}/lost`, {});
  expect(bridge.store.latestRosterVersion('school-1')?.version).toBe(2);
  const firstManifest = bridge.store.rosterVersion('school-1', 1)?.snapshotManifest;

  // Version 2 has been out for 23 hours: a grant to version 1 may still be good.
  clock = START + 24 * HOUR;
  expect((await bridge.retention.runOnce()).versionsThinned).toBe(0);
  expect(bridge.roster.snapshotBody('school-1', 1, 'gate')?.length).toBeGreaterThan(0);

  clock = START + 26 * HOUR;
  expect((await bridge.retention.runOnce()).versionsThinned).toBe(1);
  for (const variant of ['desk', 'gate'] as const) {
    expect(bridge.roster.snapshotBody('school-1', 1, variant)).toBeUndefined();
    expect(bridge.roster.snapshotBody('school-1', 2, variant)?.length).toBeGreaterThan(0);
  }
  // What a device on version 1 holds, and until when, is still known.
  expect(bridge.store.rosterVersion('school-1', 1)?.snapshotManifest).toBe(firstManifest);
  const latest = bridge.roster.currentMessages('school-1', 'gate');
  expect(latest?.version).toBe(2);
  const served = await fetch(`${bridge.httpUrl}${latest?.snapshot.url}`);
  expect(served.status).toBe(200);
});
