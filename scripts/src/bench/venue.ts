import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadRosterKeys } from '@educard/cloud-bridge';
import {
  type CertifiedCardRules,
  type CertifiedCardTrust,
  checkCertifiedCard,
  createLogger,
  GATEWAY_NODE_FLAGS,
  Gateway,
  HotlistStore,
  RosterStore,
} from '@educard/gateway';
import { keyIdOf, keyRole, RosterKeySet, signDocument } from '@educard/terminal-sdk';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  SAMPLE_MONDAY,
  sampleCardProof,
  sampleCpuCard,
  sampleUid,
  TestAuthority,
  validAround,
} from '@educard/terminal-sdk/testing';
import { api, enrolledGateway, startBridge } from './bridge-process.js';
import { atMost, type BenchResult, info, median, percentile } from './report.js';
import { quiet } from './roster-fixture.js';

// A venue's card check against the district's hotlist of a million revoked cards, on the sample
// fixtures' clock (every date derived from it).

const REVOKED = 1_000_000;
/** The revoked cards' numbers start here: the pupils who visit (below it) are not among them. */
const FIRST_REVOKED = 2_000_000;
const cardNumber = (n: number) => `E${String(n).padStart(9, '0')}`;
const DAY = 86_400_000;

/** A venue's data dir holding a key set and a signed snapshot of a million revoked cards. */
async function venueOnDisk(dir: string): Promise<{ roster: RosterStore; store: HotlistStore }> {
  const authority = new TestAuthority('museum', { now: () => SAMPLE_MONDAY });
  await mkdir(join(dir, 'roster'), { recursive: true });
  await RosterStore.writeAnchor(join(dir, 'roster'), authority.anchor());
  const now = () => SAMPLE_MONDAY;
  const roster = await RosterStore.open({
    dir: join(dir, 'roster'),
    school: 'museum',
    device: 'venue-gw',
    logger: quiet,
    now,
  });
  await roster.acceptKeySet(authority.keySet());
  const revoked = Array.from({ length: REVOKED }, (_, i) => ({
    cardNumber: cardNumber(FIRST_REVOKED + i),
    status: i % 10 === 0 ? ('cancelled' as const) : ('lost' as const),
  }));
  const issued = authority.hotlist(1, revoked);
  const store = await HotlistStore.open({
    dir: join(dir, 'hotlist'),
    logger: quiet,
    keySets: () => roster.keySetChain,
    now,
  });
  await store.accept(issued.manifest, issued.body);
  return { roster, store };
}

/** Cold start in a fresh process, as the service runs: load and verify the hotlist, and the RSS it adds. */
function hotlistLoad(dir: string): BenchResult[] {
  const child = join(import.meta.dirname, 'venue-load-child.js');
  const runs = Array.from({ length: 7 }, () => {
    const out = execFileSync(process.execPath, [...GATEWAY_NODE_FLAGS, child, dir, String(SAMPLE_MONDAY)], {
      encoding: 'utf8',
    });
    return JSON.parse(out) as { loadMs: number; addedMb: number; entries: number };
  });
  if (runs.some((r) => r.entries !== REVOKED)) throw new Error('hotlist did not load whole');
  return [
    atMost('venue.hotlist.load_ms', median(runs.map((r) => r.loadMs)), 'ms', 300),
    info('venue.hotlist.load_max_ms', Math.max(...runs.map((r) => r.loadMs)), 'ms'),
    atMost('venue.hotlist.rss_mb', median(runs.map((r) => r.addedMb)), 'MB', 64),
  ];
}

/**
 * The check of one tap: the certificate's issuer signature, the challenge the card signed, its days,
 * the hotlist's binary search. The cards' own work (signing) happens on the cards, before the clock
 * starts; one tap in ten is of a revoked card.
 */
function decisionLatency(store: HotlistStore): BenchResult[] {
  const trust: CertifiedCardTrust = {
    issuers: new Map(
      [SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B].map((k) => [keyIdOf(k.publicKey), k.publicKey]),
    ),
    hotlist: store.view,
    genuineUid: () => false,
  };
  const rules: CertifiedCardRules = {
    timeZone: 'Asia/Shanghai',
    hotlistGraceMs: DAY,
    clockUntrusted: 'deny-all',
  };
  const clock = { now: SAMPLE_MONDAY, trusted: true };
  const taps = Array.from({ length: 1000 }, (_, i) => {
    const n = i % 10 === 0 ? FIRST_REVOKED + 1 + i : i + 1;
    const issuer = i % 2 ? SAMPLE_CARD_ISSUER_B : SAMPLE_CARD_ISSUER;
    return {
      presented: { uid: sampleUid(n), proof: sampleCardProof(n, { at: SAMPLE_MONDAY, issuer }) },
      expected: i % 10 === 0 ? 'lost' : 'ok',
    };
  });
  const samples: number[] = [];
  // Round 0 warms the code up, as a venue's first visitors of the day do; it is not counted.
  for (let round = 0; round <= 10; round++)
    for (const { presented, expected } of taps) {
      const started = performance.now();
      const verdict = checkCertifiedCard(presented, trust, clock, rules);
      if (round > 0) samples.push(performance.now() - started);
      if (verdict.reason !== expected) throw new Error(`bench tap: ${verdict.reason}, expected ${expected}`);
    }
  return [
    atMost('venue.decision.p99_ms', percentile(samples, 99), 'ms', 3),
    info('venue.decision.median_ms', median(samples), 'ms'),
  ];
}

/**
 * A card reported lost at the bridge (its process, as in production, on the real clock) until the
 * venue's hotlist in force lists it: the API call, the roster version, the hotlist delta signed and
 * published, taken over MQTT, verified and applied. The venue's next tap reads that table.
 */
async function lostToVenue(dir: string): Promise<BenchResult[]> {
  const LOST = 100;
  const bridge = await startBridge(dir);
  let venue: Gateway | undefined;
  try {
    const cards = Array.from({ length: LOST }, (_, n) => sampleCpuCard(n + 1, validAround(Date.now())));
    await api(bridge, '/v1/roster/school-1/import', { cards });
    // The bridge made its own root key (no `init`): it is in its data dir, as the demo's is.
    const root = (await loadRosterKeys(join(dir, 'bridge')))?.root ?? [];
    const prepared = await api(bridge, '/v1/keys/roster/rotate/prepare', {
      cardIssuers: keyRole([SAMPLE_CARD_ISSUER, SAMPLE_CARD_ISSUER_B]),
    });
    await api(bridge, '/v1/keys/keysets', {
      pendingId: prepared.pendingId,
      keySet: signDocument(RosterKeySet.parse(prepared.keySet), root),
    });
    const config = await enrolledGateway(bridge, dir, 'venue-gw', 'museum');
    venue = await Gateway.start({
      config: {
        ...config,
        station: {
          type: 'venue',
          id: 'science-museum',
          zone: 'museum-door',
          debounceMs: 0,
          timeZone: 'Asia/Shanghai',
          hours: [{ days: [1, 2, 3, 4, 5, 6, 7], start: '00:00', end: '24:00' }],
          closures: [],
          admitEarlyMinutes: 30,
          hotlistGraceMs: DAY,
          clockUntrusted: 'ignore-time',
        },
      },
      logger: createLogger('venue', { level: 'silent' }),
    });
    const held = venue.venue;
    const lookup = (cardId: string) => held?.hotlist.view?.table.lookup(cardId);
    const ready = Date.now() + 30_000;
    while (!held?.hotlist.view || (venue.roster.keySetChain.at(-1)?.cardIssuerKeys.size ?? 0) === 0) {
      if (Date.now() > ready) throw new Error('the venue never took the hotlist and key set');
      await sleep(20);
    }
    const samples: number[] = [];
    for (const card of cards) {
      const started = performance.now();
      await api(bridge, `/v1/cards/${card.cardId}/lost`, {});
      const deadline = Date.now() + 10_000;
      while (lookup(card.cardId) !== 'lost') {
        if (Date.now() > deadline) throw new Error(`card ${card.cardId} never reached the venue's hotlist`);
        await sleep(2);
      }
      samples.push(performance.now() - started);
    }
    return [
      atMost('venue.hotlist.lost_p99_ms', percentile(samples, 99), 'ms', 1000),
      info('venue.hotlist.lost_median_ms', median(samples), 'ms'),
    ];
  } finally {
    await venue?.stop();
    await bridge.stop();
  }
}

export async function venueBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-venue-'));
  try {
    const { store } = await venueOnDisk(join(dir, 'local'));
    return [
      ...hotlistLoad(join(dir, 'local')),
      ...decisionLatency(store),
      ...(await lostToVenue(join(dir, 'online'))),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
