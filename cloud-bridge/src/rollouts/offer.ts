import { type QuietWindow, SPEC_VERSION, type UpdateOffer } from '@educard/terminal-sdk';
import { type Directory, SchoolTimes } from '../directory/index.js';
import type { BridgeStore } from '../store/index.js';
import type { RolloutSpec } from './spec.js';
import type { SchoolDayRules } from './windows.js';

/** A school's bell times and calendar, as the quiet windows are worked out from them. */
export function schoolRules(
  store: BridgeStore,
  directory: Directory,
  school: string,
  defaultTimeZone: string,
): SchoolDayRules {
  const calendar = store.rosterSettings(school)?.calendar;
  return {
    timeZone: calendar?.timeZone ?? defaultTimeZone,
    calendar: {
      holidays: calendar?.holidays ?? [],
      closures: calendar?.closures ?? [],
      makeUpDays: calendar?.makeUpDays ?? [],
    },
    times: directory.school(school)?.times ?? SchoolTimes.parse({}),
  };
}

/**
 * The offer of a rollout's release as the JSON text sent to one device. The manifest's text as the
 * bridge holds it is spliced in as the last member: what JSON.stringify of the whole offer writes,
 * without writing the same megabyte (a manifest lists every file) out again for every device.
 */
export function offerText(options: {
  rollout: string;
  spec: RolloutSpec;
  quiet: QuietWindow[];
  now: number;
  quietDays: number;
  manifestText: string;
}): string {
  const { now } = options;
  const message: Omit<Extract<UpdateOffer, { kind: 'offer' }>, 'manifest'> = {
    v: SPEC_VERSION,
    kind: 'offer',
    rollout: options.rollout,
    files: '/v1/releases/files/',
    allowOneWay: options.spec.allowOneWay,
    quiet: options.quiet,
    quietUntil: new Date(now + options.quietDays * 86_400_000).toISOString(),
    at: new Date(now).toISOString(),
  };
  const text = JSON.stringify(message);
  return `${text.slice(0, -1)},"manifest":${options.manifestText}}`;
}
