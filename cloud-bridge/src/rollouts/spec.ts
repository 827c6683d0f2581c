import { Identifier, ReleaseVersion } from '@educard/terminal-sdk';
import { z } from 'zod';

// A rollout's plan: what it is asked to do, and which device goes in which phase.

const PhaseSpec = z
  .string()
  .regex(/^(canary|\d{1,3}%|\d{1,6})$/, '"canary", a percentage like "10%", or a count');

/** What a rollout is asked to do: which release, to whom, in which phases, at what pace, until which rule. */
export const RolloutSpec = z
  .object({
    version: ReleaseVersion,
    schools: z.array(Identifier).max(10_000).default([]),
    devices: z.array(Identifier).max(100_000).default([]),
    tags: z.array(Identifier).max(64).default([]),
    /** Phases one after another: "canary" (one device per school), "10%" (of all), "25" (devices). */
    phases: z.array(PhaseSpec).min(1).max(16).default(['canary', '10%', '100%']),
    /** Devices offered the release per minute, at most. */
    pace: z.number().int().min(1).max(100_000).default(10),
    abort: z
      .object({
        /** Abort after this many devices failed. */
        failures: z.number().int().min(1).default(3),
        /** Or when this share of the devices finished so far failed… */
        percent: z.number().min(0).max(100).optional(),
        /** …once at least this many finished. */
        minDevices: z.number().int().min(1).default(10),
      })
      .prefault({}),
    /** Switch only outside school hours (evenings, nights, weekends, holidays), not just outside arrival and dismissal. */
    afterHours: z.boolean().default(false),
    /** Let the devices take a release they cannot come back from (it writes a format the old one cannot read). */
    allowOneWay: z.boolean().default(false),
  })
  .refine((spec) => spec.schools.length + spec.devices.length + spec.tags.length > 0, {
    message: 'name the schools, devices or tags to roll out to',
  });
export type RolloutSpec = z.infer<typeof RolloutSpec>;
export type RolloutSpecInput = z.input<typeof RolloutSpec>;

/**
 * Puts each device in a phase: "canary" takes the first device of each school not placed yet, a
 * percentage brings the devices placed so far up to that share of all, a count up to that many; the
 * last phase takes whoever is left.
 */
export function assignPhases(
  targets: { device: string; school: string }[],
  phases: string[],
): { device: string; school: string; phase: number }[] {
  const order = [...targets].sort((a, b) =>
    a.school === b.school ? (a.device < b.device ? -1 : 1) : a.school < b.school ? -1 : 1,
  );
  const placed = new Map<string, number>();
  phases.forEach((phase, index) => {
    const left = order.filter((t) => !placed.has(t.device));
    if (index === phases.length - 1) {
      for (const t of left) placed.set(t.device, index);
      return;
    }
    if (phase === 'canary') {
      const schools = new Set<string>();
      for (const t of left)
        if (!schools.has(t.school)) {
          schools.add(t.school);
          placed.set(t.device, index);
        }
      return;
    }
    const upTo = phase.endsWith('%')
      ? Math.ceil((Number(phase.slice(0, -1)) / 100) * order.length)
      : Number(phase);
    for (const t of left.slice(0, Math.max(0, upTo - placed.size))) placed.set(t.device, index);
  });
  return order.map((t) => ({ ...t, phase: placed.get(t.device) as number }));
}
