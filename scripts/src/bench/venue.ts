import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CertifiedCardRules,
  type CertifiedCardTrust,
  checkCertifiedCard,
  GATEWAY_NODE_FLAGS,
  HotlistStore,
  RosterStore,
} from '@educard/gateway';
import { keyIdOf } from '@educard/terminal-sdk';
import {
  SAMPLE_CARD_ISSUER,
  SAMPLE_CARD_ISSUER_B,
  SAMPLE_MONDAY,
  sampleCardProof,
  sampleUid,
  TestAuthority,
} from '@educard/terminal-sdk/testing';
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

export async function venueBench(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-venue-'));
  try {
    const { store } = await venueOnDisk(dir);
    return [...hotlistLoad(dir), ...decisionLatency(store)];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
