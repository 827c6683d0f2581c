import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CatalogueManifest, RosterManifest } from '@educard/terminal-sdk';
import { sampleCalendar, sampleCard, validAround } from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseBridgeConfig } from '../config/index.js';
import { Bridge } from '../runtime/index.js';
import { needsRenewal } from './index.js';

const DAY = 86_400_000;

describe('whether a signed manifest must be issued again', () => {
  const now = Date.parse('2026-11-23T08:00:00+08:00');
  const current = { keySetVersion: 2, nowMs: now, ttlMs: 7 * DAY };
  const signed = (expiresInDays: number, keySetVersion = 2) => ({
    keySetVersion,
    expiresAt: new Date(now + expiresInDays * DAY).toISOString(),
  });

  it('once half its validity has run, or when signed under an older key set, or unreadable', () => {
    expect(needsRenewal(signed(4), current)).toBe(false);
    expect(needsRenewal(signed(3.4), current)).toBe(true);
    expect(needsRenewal(signed(-1), current)).toBe(true);
    expect(needsRenewal(signed(6, 1), current)).toBe(true);
    expect(needsRenewal(undefined, current)).toBe(true);
  });
});

/**
 * A school where no card changes for a week (a holiday) keeps a roster its gates accept: the bridge
 * signs it again, as a new version with no change, before its manifest expires. The bridge runs on a
 * clock the test moves, starting at the real time; every date is derived from it.
 */
describe('a quiet school', () => {
  let dir: string;
  let bridge: Bridge;
  let nowMs = Date.now();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bridge-renewal-'));
    bridge = await Bridge.start(
      parseBridgeConfig({
        dataDir: dir,
        adminToken: 'renewal-admin-token-0123456789',
        mqtt: { port: 0 },
        http: { port: 0, pages: false },
      }),
      pino({ level: 'silent' }),
      () => new Date(nowMs),
    );
  });
  afterAll(async () => {
    await bridge?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const rosterExpiry = () => {
    const latest = bridge.store.latestRosterVersion('school-1');
    const manifest = RosterManifest.parse(JSON.parse(latest?.snapshotManifest as string).signed);
    return { version: latest?.version, expiresAt: manifest.expiresAt };
  };

  it('has its roster signed again once half the manifest’s week has run, with the same cards', async () => {
    const report = await bridge.roster.importRoster('school-1', {
      cards: [{ card: sampleCard(1, validAround(nowMs)) }],
      calendar: sampleCalendar(nowMs),
    });
    expect(report).toMatchObject({ ok: true, version: 1 });

    nowMs += 3 * DAY;
    expect(await bridge.roster.renew()).toEqual([]);
    nowMs += 1 * DAY;
    expect(await bridge.roster.renew()).toEqual([{ school: 'school-1', version: 2 }]);
    expect(rosterExpiry()).toEqual({ version: 2, expiresAt: new Date(nowMs + 7 * DAY).toISOString() });
    expect(bridge.store.rosterCards('school-1').map((c) => c.cardId)).toEqual([sampleCard(1).cardId]);
    expect(await bridge.roster.renew()).toEqual([]);
  });

  it('has its library catalogue signed again once half its year has run', async () => {
    const imported = await bridge.catalogue.importCatalogue('school-1', {
      items: [{ item: { itemId: 'B1', title: 'A Book' } }],
    });
    expect(imported).toMatchObject({ ok: true, version: 1 });
    nowMs += 180 * DAY;
    expect(await bridge.catalogue.reissueStale()).toEqual([]);
    nowMs += 5 * DAY;
    expect(await bridge.catalogue.reissueStale()).toEqual([{ school: 'school-1', version: 2 }]);
    const latest = bridge.store.latestCatalogue('school-1');
    const manifest = CatalogueManifest.parse(JSON.parse(latest?.manifest as string).signed);
    expect(manifest.expiresAt).toBe(new Date(nowMs + 365 * DAY).toISOString());
  });
});
