import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, RosterStore } from '@educard/gateway';
import type { CardEntry } from '@educard/terminal-sdk';
import { SAMPLE_MONDAY, sampleCard, sampleCpuCard, TestAuthority } from '@educard/terminal-sdk/testing';

export const SCHOOL = 'school-1';
export const DEVICE = 'bench-gate';
export const quiet = createLogger('bench', { level: 'silent' });
/** The benchmarks' clock: the sample cards' school year, a school-day morning. */
export const BENCH_NOW = SAMPLE_MONDAY;
export const benchClock = () => BENCH_NOW;
/** The benchmarks' device is a gate: it holds the gate variant, UIDs keyed-hashed, no names. */
export const BENCH_VARIANT = 'gate' as const;

/** Half UID cards, half EDU CPU cards, as a school moving over to CPU cards would have. */
export function benchCards(count: number): CardEntry[] {
  return Array.from({ length: count }, (_, i) => (i % 2 ? sampleCpuCard(i) : sampleCard(i)));
}

/** A provisioned roster directory holding a signed snapshot of `count` cards, as a gate gets it. */
export async function rosterOnDisk(count: number): Promise<{ dir: string; authority: TestAuthority }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-roster-'));
  await mkdir(dir, { recursive: true });
  const authority = new TestAuthority(SCHOOL, { now: benchClock });
  await RosterStore.writeAnchor(dir, authority.anchor());
  const store = await RosterStore.open({
    dir,
    school: SCHOOL,
    device: DEVICE,
    variant: BENCH_VARIANT,
    logger: quiet,
    now: benchClock,
  });
  await store.acceptKeySet(authority.keySet());
  const snapshot = authority.snapshot(1, benchCards(count), { variant: BENCH_VARIANT });
  await store.accept(snapshot.manifest, snapshot.body);
  return { dir, authority };
}
