import {
  GateActuators,
  GateStation,
  IoConfig,
  type Journal,
  PassbackState,
  PolicyConfig,
  RecordingIO,
  RosterStore,
} from '@educard/gateway';
import type { EventBody } from '@educard/terminal-sdk';
import { gateDecisionData } from '@educard/terminal-sdk/testing';
import { BENCH_NOW, BENCH_VARIANT, benchClock, DEVICE, quiet, SCHOOL } from './roster-fixture.js';

/**
 * The gate's own parts as the gateway wires them, for benchmarks that time them without a process:
 * the real station, roster, policy and johnny-five actuators, over the journal given.
 */
export async function benchGate(rosterDir: string, journal: Journal) {
  const roster = await RosterStore.open({
    dir: rosterDir,
    school: SCHOOL,
    device: DEVICE,
    variant: BENCH_VARIANT,
    logger: quiet,
    now: benchClock,
  });
  const actuators = new GateActuators({ config: IoConfig.parse({}), logger: quiet, io: new RecordingIO() });
  await actuators.start();
  const now = BENCH_NOW;
  const station = new GateStation({
    config: { id: 'gate-main', zone: 'main-gate', debounceMs: 0 },
    policy: PolicyConfig.parse({ passback: { mode: 'off' } }),
    roster: () => roster.view,
    clock: { read: () => ({ now, trusted: true }), stamp: () => ({ clock: 'synced' as const }) },
    actions: actuators,
    journal,
    passback: new PassbackState(),
    lockdown: () => actuators.lockedDown(),
    logger: quiet,
  });
  return { station, actuators };
}

/** A gate decision as the journal takes it, for the journal's own benchmarks. */
export function tapBody(i: number): EventBody {
  return {
    type: 'gate.decision',
    at: new Date().toISOString(),
    clock: 'synced',
    data: gateDecisionData({
      reader: 'r-in',
      cardId: `E${String(i).padStart(9, '0')}`,
      personId: `p${i}`,
      cardStatus: 'active',
    }),
  };
}
