import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  sampleCpuCard,
  validAround,
} from '@educard/terminal-sdk/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asAdmin } from '../support/accounts.js';
import { startBridge } from '../support/bridge.js';
import { CentralTestServer, centralConfig, centralStatus } from '../support/central-server.js';
import {
  nameCardIssuers,
  venuePupil as pupil,
  startVenueGateway,
  tapAt,
  venueReady,
} from '../support/venue.js';

// A venue's visits into the pupils' growth records at the central system, on the real clock (every
// date derived from it): a pupil of this district by person, another district's by card number, a
// re-entry adding nothing, and each visit once although the bridge stops with a batch unanswered.

let dir: string;
let bridge: Bridge | undefined;
let central: CentralTestServer;
let venue: Gateway | undefined;

const card = (n: number) => `E${String(n).padStart(9, '0')}`;
const start = () => startBridge(join(dir, 'bridge'), { central: centralConfig(central) });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'venue-growth-'));
  central = await CentralTestServer.start();
  bridge = await start();
  const imported = await asAdmin(bridge.httpUrl, 'POST', '/v1/roster/school-1/import', {
    cards: [1, 2].map((n) => sampleCpuCard(n, validAround(Date.now()))),
  });
  expect(imported.status).toBe(200);
  await nameCardIssuers(bridge, [SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B]);
  venue = await startVenueGateway(bridge, join(dir, 'venue'), 'venue-gw');
  await venueReady(venue);
});
afterEach(async () => {
  await venue?.stop();
  venue = undefined;
  await bridge?.stop();
  bridge = undefined;
  await central.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("a venue's visits in the growth record", () => {
  it('reaches the central system once per visit, by person or by card number, across a bridge restart', async () => {
    const live = venue as Gateway;
    const visit = (n: number) => {
      const { reason, record } = tapAt(live, 'door-in', pupil(n));
      expect(reason).toBe('ok');
      return record;
    };
    const first = visit(1);
    visit(500_001);
    expect(tapAt(live, 'door-out', pupil(1)).record.type).toBe('venue.exit');
    expect(visit(1).data).toMatchObject({ reentry: true });
    await until(() => central.growthRecords.length >= 2, { what: 'two growth records' });
    expect(central.growthRecords).toEqual([
      expect.objectContaining({
        kind: 'venue-visit',
        id: `venue-gw:${first.seq}`,
        site: 'museum',
        venue: 'science-museum',
        cardId: card(1),
        routing: 'district',
        school: 'school-1',
        personId: sampleCpuCard(1, validAround(Date.now())).personId,
        role: 'student',
      }),
      expect.objectContaining({ cardId: card(500_001), routing: 'forward' }),
    ]);
    expect(central.growthRecords[1]).not.toHaveProperty('personId');
    // Nothing of the venue's own record is a name: the growth record carries none either.
    expect(JSON.stringify(central.growthRecords)).not.toMatch(/"name"/);

    // The next batch is stored at the central system but never answered; the bridge stops meanwhile.
    central.stallNext(1);
    const last = visit(2);
    await until(() => central.events.some((e) => e.device === 'venue-gw' && e.seq === last.seq), {
      what: 'the last visit stored at the central system',
    });
    await live.stop();
    venue = undefined;
    await (bridge as Bridge).stop();
    bridge = await start();
    const restarted = bridge;
    await until(async () => (await centralStatus(restarted.httpUrl)).push?.pending === 0, {
      what: 'the outbox empty after the restart',
    });
    expect(central.duplicates).toBeGreaterThanOrEqual(1);
    expect(central.growthRecords.map((g) => g.cardId)).toEqual([card(1), card(500_001), card(2)]);
    expect(new Set(central.growthRecords.map((g) => g.id)).size).toBe(3);
  });
});
