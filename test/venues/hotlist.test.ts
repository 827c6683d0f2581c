import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import type { Gateway } from '@educard/gateway';
import { until } from '@educard/scripts/support';
import {
  encodeHotlist,
  generateKeyPair,
  hotlistEntries,
  issueHotlist,
  parseHotlistHeader,
  SPEC_VERSION,
  topics,
} from '@educard/terminal-sdk';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  sampleCpuCard,
  validAround,
} from '@educard/terminal-sdk/testing';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asAdmin } from '../support/accounts.js';
import { startBridge } from '../support/bridge.js';
import { CentralTestServer } from '../support/central-server.js';
import {
  nameCardIssuers,
  venuePupil as pupil,
  startVenueGateway,
  tapAt,
  venueReady,
} from '../support/venue.js';

// The hotlist end to end, on the real clock (every date derived from it): the bridge's rosters and the
// central system's feed revoke cards, the bridge publishes the district's list, a venue's gateway takes
// it over MQTT and refuses the cards; what an attacker puts on the broker changes nothing.

let dir: string;
let bridge: Bridge;
let central: CentralTestServer;
let venue: Gateway | undefined;

const card = (n: number) => `E${String(n).padStart(9, '0')}`;
const reason = (n: number) => tapAt(venue as Gateway, 'door-in', pupil(n)).reason;

async function journaled(type: string) {
  const live = venue as Gateway;
  await live.journal.flush();
  return (await live.journal.read(1, 10_000)).filter((r) => r.type === type);
}

const bridgeOverrides = () => ({
  central: { mode: 'api', url: central.url, token: central.token, feed: { intervalMs: 3_600_000 } },
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'venue-hotlist-'));
  central = await CentralTestServer.start();
  bridge = await startBridge(join(dir, 'bridge'), bridgeOverrides());
  const imported = await asAdmin(bridge.httpUrl, 'POST', '/v1/roster/school-1/import', {
    cards: [1, 2, 3].map((n) => sampleCpuCard(n, validAround(Date.now()))),
  });
  expect(imported.status).toBe(200);
  await nameCardIssuers(bridge, [SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B]);
  venue = await startVenueGateway(bridge, join(dir, 'venue'), 'venue-gw');
  await venueReady(venue);
});
afterEach(async () => {
  await venue?.stop();
  venue = undefined;
  await bridge.stop();
  await central.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the district hotlist at a venue', () => {
  it('refuses a card reported lost at the bridge at the next tap, by a delta, and admits it once found', async () => {
    const live = venue as Gateway;
    expect([reason(1), reason(500_001)]).toEqual(['ok', 'ok']);
    const before = live.venue?.hotlist.version ?? 0;
    expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/cards/${card(1)}/lost`, {})).status).toBe(200);
    await until(() => (live.venue?.hotlist.version ?? 0) > before, { what: 'the delta at the venue' });
    expect(reason(1)).toBe('lost');
    expect((await journaled('hotlist.applied')).at(-1)?.data).toMatchObject({ kind: 'delta', entries: 1 });
    const lostAt = live.venue?.hotlist.version ?? 0;
    expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/cards/${card(1)}/reactivate`, {})).status).toBe(200);
    await until(() => (live.venue?.hotlist.version ?? 0) > lostAt, { what: 'the card taken off the list' });
    expect(reason(1)).toBe('ok');
    expect((await asAdmin(bridge.httpUrl, 'GET', '/v1/hotlist')).body).toMatchObject({ entries: 0 });
  });

  it('keeps a pupil who moved to another school of the district off the list: the card lives on there', async () => {
    const live = venue as Gateway;
    const moving = sampleCpuCard(3, validAround(Date.now()));
    const other = { ...sampleCpuCard(4, validAround(Date.now())), school: 'school-2' };
    const imported = await asAdmin(bridge.httpUrl, 'POST', '/v1/roster/school-2/import', { cards: [other] });
    expect(imported.status).toBe(200);
    const moved = await asAdmin(bridge.httpUrl, 'POST', `/v1/people/${moving.personId}/transfer`, {
      to: 'school-2',
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    // The old roster holds the card cancelled (transferred), the new one active: not a revocation.
    expect(bridge.store.rosterCards('school-1').find((c) => c.cardId === card(3))).toMatchObject({
      status: 'cancelled',
      statusReason: 'transferred',
    });
    expect((await asAdmin(bridge.httpUrl, 'GET', '/v1/hotlist')).body).toMatchObject({ entries: 0 });
    expect(reason(3)).toBe('ok');
    // And a restart of the bridge, which takes the rosters' revocations in again, agrees.
    await live.stop();
    venue = undefined;
    await bridge.stop();
    bridge = await startBridge(join(dir, 'bridge'), bridgeOverrides());
    expect((await asAdmin(bridge.httpUrl, 'GET', '/v1/hotlist')).body).toMatchObject({ entries: 0 });
  });

  it('reaches a venue that joins when the broker retains neither key sets nor hotlist: its birth asks the bridge', async () => {
    expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/cards/${card(2)}/lost`, {})).status).toBe(200);
    const version = await until(() => {
      const published = (bridge.venues.hotlist.status() as { version: number }).version;
      return published > 1 && (venue?.venue?.hotlist.version ?? 0) >= published && published;
    });
    // A broker cluster that does not replicate retained messages: the district's topics hold nothing.
    for (const topic of [topics.districtKeySets(), topics.hotlistSnapshot(), topics.hotlistDelta()])
      await bridge.client.publishAsync(topic, '', { qos: 1, retain: true });
    const late = await startVenueGateway(bridge, join(dir, 'late-venue'), 'late-gw');
    try {
      await venueReady(late, version);
      expect(tapAt(late, 'door-in', pupil(2)).reason).toBe('lost');
    } finally {
      await late.stop();
    }
  });

  it('takes the hotlist when a fetch of its body failed, without waiting for the next one to be published', async () => {
    // The bridge's HTTP through a relay that answers the first request for a hotlist body with a 503.
    let refused = 0;
    const relay = createServer((request, response) => {
      if (request.url?.startsWith('/v1/hotlist/snapshots/') && refused === 0) {
        refused += 1;
        response.writeHead(503).end();
        return;
      }
      fetch(new URL(request.url as string, bridge.httpUrl))
        .then(async (answer) => {
          const body = Buffer.from(await answer.arrayBuffer());
          response.writeHead(answer.status, { 'content-length': body.length }).end(body);
        })
        .catch(() => response.writeHead(502).end());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    // Only the snapshot's body brings this venue the list: the broker holds no delta for it.
    await bridge.client.publishAsync(topics.hotlistDelta(), '', { qos: 1, retain: true });
    const late = await startVenueGateway(bridge, join(dir, 'late-venue'), 'late-gw', {
      bridgeHttp: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    });
    try {
      await venueReady(late);
      expect(refused).toBe(1);
    } finally {
      await late.stop();
      relay.close();
    }
  });

  it('takes the genuine hotlist when one of a higher version that no key verifies was put on the broker', async () => {
    const held = venue?.venue?.hotlist.version as number;
    const hashKey = parseHotlistHeader(bridge.venues.hotlist.snapshot(held) as Uint8Array).hashKey;
    const forged = issueHotlist(
      encodeHotlist({ kind: 'snapshot', version: held + 1000, hashKey }, hotlistEntries(hashKey, [])),
      {
        issuedAt: new Date().toISOString(),
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        keySetVersion: bridge.roster.keys.version,
        signers: [generateKeyPair()],
      },
    );
    // Only a snapshot brings a new venue the list: no delta retained, and the forgery retained in place
    // of the genuine snapshot, which the venue's birth then gets from the bridge.
    await bridge.client.publishAsync(topics.hotlistDelta(), '', { qos: 1, retain: true });
    await bridge.client.publishAsync(
      topics.hotlistSnapshot(),
      JSON.stringify({
        v: SPEC_VERSION,
        manifest: JSON.parse(Buffer.from(forged.manifest).toString('utf8')),
        url: `/v1/hotlist/snapshots/${held}`,
      }),
      { qos: 1, retain: true },
    );
    // The venue's log goes with a failure: which snapshots it tried, and why each was refused.
    const log: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => log.push(line) });
    const late = await startVenueGateway(bridge, join(dir, 'late-venue'), 'late-gw', { logger });
    try {
      await venueReady(late, held).catch((error: Error) => {
        throw new Error(`${error.message}\n${log.filter((line) => line.includes('hotlist')).join('')}`);
      });
      expect(late.venue?.hotlist.version).toBe(held);
    } finally {
      await late.stop();
    }
  });

  it("refuses another district's card the central system reports lost", async () => {
    const live = venue as Gateway;
    expect(reason(700_001)).toBe('ok');
    central.changes.push({ kind: 'hotlist', changeId: 'h-1', cardId: card(700_001), status: 'cancelled' });
    const before = live.venue?.hotlist.version ?? 0;
    expect((await asAdmin(bridge.httpUrl, 'POST', '/v1/central/feed/pull', {})).status).toBe(200);
    await until(() => (live.venue?.hotlist.version ?? 0) > before, {
      what: 'the feed revocation at the venue',
    });
    expect(reason(700_001)).toBe('cancelled');
  });

  it('refuses a forged, expired, altered or rolled-back hotlist put on the broker, and keeps the one in force', async () => {
    const live = venue as Gateway;
    expect((await asAdmin(bridge.httpUrl, 'POST', `/v1/cards/${card(2)}/lost`, {})).status).toBe(200);
    await until(() => live.venue?.hotlist.view?.table.lookup(card(2)) === 'lost', {
      what: 'card 2 on the list',
    });
    const held = live.venue?.hotlist.version as number;
    const hashKey = parseHotlistHeader(bridge.venues.hotlist.snapshot(held) as Uint8Array).hashKey;
    const takeOff = (signers = bridge.roster.keys.signers, expiresAt = new Date(Date.now() + 86_400_000)) =>
      issueHotlist(
        encodeHotlist(
          { kind: 'delta', version: held + 1, fromVersion: held, hashKey },
          hotlistEntries(hashKey, [{ cardNumber: card(2), status: 'removed' }]),
        ),
        {
          issuedAt: new Date().toISOString(),
          expiresAt: expiresAt.toISOString(),
          keySetVersion: bridge.roster.keys.version,
          signers,
        },
      );
    const put = (issued: { manifest: Uint8Array; body: Uint8Array }, body = issued.body) =>
      bridge.client.publishAsync(
        topics.hotlistDelta(),
        JSON.stringify({
          v: SPEC_VERSION,
          manifest: JSON.parse(Buffer.from(issued.manifest).toString('utf8')),
          body: Buffer.from(body).toString('base64'),
        }),
        { qos: 1 },
      );
    await put(takeOff([generateKeyPair()]));
    await put(takeOff(undefined, new Date(Date.now() - 60_000)));
    const genuine = takeOff();
    const altered = Buffer.from(genuine.body);
    altered[altered.length - 1] = 2;
    await put(genuine, altered);
    // The bridge's first snapshot again: an older version, which the venue never takes.
    const first = bridge.store.database
      .prepare<[], { manifest: string }>('SELECT manifest FROM hotlist_versions WHERE version = 1')
      .get();
    await bridge.client.publishAsync(
      topics.hotlistSnapshot(),
      JSON.stringify({
        v: SPEC_VERSION,
        manifest: JSON.parse(first?.manifest ?? '{}'),
        url: '/v1/hotlist/snapshots/1',
      }),
      { qos: 1 },
    );
    const rejected = await until(async () => {
      const found = await journaled('hotlist.rejected');
      return found.length >= 3 && found;
    });
    expect(rejected.map((r) => String(r.data.reason).split(':')[0])).toEqual([
      'unknown-key',
      'expired',
      'digest-mismatch',
    ]);
    expect(live.venue?.hotlist.version).toBe(held);
    expect(reason(2)).toBe('lost');
  });
});
