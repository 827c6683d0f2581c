import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { type CardPresented, GATEWAY_NODE_FLAGS, Journal, RosterStore } from '@educard/gateway';
import { cardAuthMessage, ed25519 } from '@educard/terminal-sdk';
import { sampleCard, sampleCardSeed, sampleUid } from '@educard/terminal-sdk/testing';
import { benchGate, tapBody } from './gate-fixture.js';
import { storageBench } from './gateway-storage.js';
import { atLeast, atMost, type BenchResult, info, median, percentile } from './report.js';
import {
  BENCH_NOW,
  BENCH_VARIANT,
  benchCards,
  benchClock,
  DEVICE,
  quiet,
  rosterOnDisk,
  SCHOOL,
} from './roster-fixture.js';

/**
 * What the gateway group measures against: the x86 VM's figures on a 100,000-card roster, or, with
 * `--pi`, a Raspberry-class budget (docs/gateway.md) on a 10,000-card roster, ids ending `.pi`.
 */
export interface GatewayBenchProfile {
  cards: number;
  suffix: '' | '.pi';
  decisionP99Ms: number;
  rosterLoadMs: number;
  rosterRssMb: number;
}

export const X86_PROFILE: GatewayBenchProfile = {
  cards: 100_000,
  suffix: '',
  decisionP99Ms: 2,
  rosterLoadMs: 1000,
  rosterRssMb: 100,
};
export const PI_PROFILE: GatewayBenchProfile = {
  cards: 10_000,
  suffix: '.pi',
  decisionP99Ms: 10,
  rosterLoadMs: 1500,
  rosterRssMb: 100,
};

/**
 * Tap to actuator command through the real station, roster, policy, journal and johnny-five; the gate's
 * roster holds UIDs keyed-hashed, so a UID tap hashes what it reads first.
 */
async function decisionLatency(rosterDir: string, profile: GatewayBenchProfile): Promise<BenchResult[]> {
  const journalDir = await mkdtemp(join(tmpdir(), 'bench-journal-'));
  const journal = await Journal.open({ dir: journalDir, device: DEVICE, logger: quiet, minFreeBytes: 0 });
  const { station, actuators } = await benchGate(rosterDir, journal);
  // The card's own work (signing) happens on the card: proofs are made before the clock starts.
  const taps: CardPresented[] = [];
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(Math.random() * profile.cards);
    if (n % 2) {
      const challenge = new Uint8Array(16).fill(i % 251);
      const cardNumber = sampleCard(n).cardId;
      const signature = ed25519.sign(cardAuthMessage(challenge, cardNumber), sampleCardSeed(n));
      taps.push({
        reader: 'r-in',
        uid: sampleUid(900_000 + n),
        proof: { cardNumber, challenge, signature },
        detectedAt: 0,
      });
    } else {
      taps.push({ reader: 'r-in', uid: sampleUid(n), detectedAt: 0 });
    }
  }
  const samples: number[] = [];
  for (let round = 0; round < 10; round++) {
    for (const [i, tap] of taps.entries()) {
      const started = performance.now();
      const outcome = station.tap({ ...tap, detectedAt: started }, { name: 'r-in', direction: 'in' });
      if (outcome?.decision.decision !== 'grant')
        throw new Error(`bench tap not granted: ${outcome?.decision.reason}`);
      samples.push(outcome.actedAt - started);
      // Taps arrive one at a time: let the journal's group commit and the IO timers run between them.
      if (i % 20 === 0) await yieldToLoop();
    }
  }
  await journal.close();
  await actuators.stop();
  await rm(journalDir, { recursive: true, force: true });
  return [
    atMost('gateway.decision.p99_ms', percentile(samples, 99), 'ms', profile.decisionP99Ms),
    info('gateway.decision.median_ms', median(samples), 'ms'),
  ];
}

/** Cold start in a fresh process run as the service runs: load and verify a 100,000-card roster, and RSS after. */
function rosterLoad(rosterDir: string, profile: GatewayBenchProfile): BenchResult[] {
  const child = join(import.meta.dirname, 'roster-load-child.js');
  const runs = Array.from({ length: 7 }, () => {
    const out = execFileSync(
      process.execPath,
      [...GATEWAY_NODE_FLAGS, child, rosterDir, SCHOOL, DEVICE, String(BENCH_NOW)],
      { encoding: 'utf8' },
    );
    return JSON.parse(out) as { loadMs: number; rssMb: number; cards: number };
  });
  if (runs.some((r) => r.cards !== profile.cards)) throw new Error('roster did not load whole');
  return [
    atMost('gateway.roster.load_ms', median(runs.map((r) => r.loadMs)), 'ms', profile.rosterLoadMs),
    info('gateway.roster.load_max_ms', Math.max(...runs.map((r) => r.loadMs)), 'ms'),
    atMost('gateway.roster.rss_mb', median(runs.map((r) => r.rssMb)), 'MB', profile.rosterRssMb),
  ];
}

/** Verify, persist (fsync) and apply a 1,000-entry delta on the 100,000-card roster. */
async function deltaApply(
  rosterDir: string,
  authority: Awaited<ReturnType<typeof rosterOnDisk>>['authority'],
  count: number,
) {
  const store = await RosterStore.open({
    dir: rosterDir,
    school: SCHOOL,
    device: DEVICE,
    variant: BENCH_VARIANT,
    logger: quiet,
    now: benchClock,
  });
  const cards = benchCards(count);
  const samples: number[] = [];
  let version = 1;
  let next = count;
  // Each round changes 1,000 cards not changed before: as many rounds as the roster allows, up to 20.
  for (let round = 0; round < Math.min(20, count / 1000); round++) {
    const changes = Array.from({ length: 1000 }, (_, i) => {
      const n = round * 1000 + i;
      if (i % 3 === 0)
        return {
          op: 'revoke' as const,
          cardId: (cards[n] as { cardId: string }).cardId,
          status: 'lost' as const,
        };
      if (i % 3 === 1)
        return {
          op: 'update' as const,
          card: { ...(cards[n] as (typeof cards)[number]), zones: ['library'] },
        };
      next += 1;
      return { op: 'add' as const, card: sampleCard(next) };
    });
    const delta = authority.delta(version, version + 1, changes, { variant: BENCH_VARIANT });
    const started = performance.now();
    await store.accept(delta.manifest, delta.body);
    samples.push(performance.now() - started);
    version += 1;
  }
  return [
    atMost('gateway.roster.delta_ms', median(samples), 'ms', 50),
    info('gateway.roster.delta_p99_ms', percentile(samples, 99), 'ms'),
  ];
}

/** Sustained fsync'd appends, and one tap's append-to-durable latency at a busy gate's pace. */
async function journalThroughput(): Promise<BenchResult[]> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-journal-'));
  const journal = await Journal.open({ dir, device: DEVICE, logger: quiet, minFreeBytes: 0 });
  const total = 50_000;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    journal.append(tapBody(i));
    if (i % 100 === 99) await yieldToLoop();
  }
  await journal.flush();
  const perSecond = total / ((performance.now() - started) / 1000);

  const latencies: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const appended = performance.now();
    const { seq } = journal.append(tapBody(i));
    void journal.durable(seq).then(() => latencies.push(performance.now() - appended));
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await journal.flush();
  const commits = journal.stats().commits;
  await journal.close();
  await rm(dir, { recursive: true, force: true });
  return [
    atLeast('gateway.journal.appends_per_s', perSecond, 'appends/s', 5000),
    atMost('gateway.journal.durable_p99_ms', percentile(latencies, 99), 'ms', 50),
    info('gateway.journal.durable_median_ms', median(latencies), 'ms'),
    info('gateway.journal.fsyncs', commits, 'fsyncs'),
  ];
}

export async function gatewayBench(profile: GatewayBenchProfile = X86_PROFILE): Promise<BenchResult[]> {
  const { dir, authority } = await rosterOnDisk(profile.cards);
  try {
    const results = [
      ...(await decisionLatency(dir, profile)),
      ...rosterLoad(dir, profile),
      ...(await deltaApply(dir, authority, profile.cards)),
      ...(await journalThroughput()),
      ...(await storageBench()),
    ];
    return results.map((result) => ({ ...result, id: `${result.id}${profile.suffix}` }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
