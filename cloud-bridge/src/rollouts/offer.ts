import { type QuietWindow, type ReleaseOffer, SPEC_VERSION } from '@educard/terminal-sdk';
import { type Directory, SchoolTimes } from '../directory/index.js';
import type { HeldRelease } from '../releases/index.js';
import type { BridgeStore } from '../store/index.js';
import type { RolloutSpec } from './spec.js';
import type { SchoolDayRules } from './windows.js';

/** Where devices fetch release files (and the manifests, which are kept among them), under the bridge's HTTP base. */
const RELEASE_FILES = '/v1/releases/files/';

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

/** The offer of a rollout's release to one device: the manifest named by its hash, fetched over HTTP. */
export function releaseOffer(options: {
  rollout: string;
  spec: RolloutSpec;
  quiet: QuietWindow[];
  now: number;
  quietDays: number;
  release: Pick<HeldRelease, 'sha256' | 'size' | 'manifest'>;
}): ReleaseOffer {
  const { now, release } = options;
  return {
    v: SPEC_VERSION,
    kind: 'offer',
    rollout: options.rollout,
    manifest: {
      version: release.manifest.version,
      sha256: release.sha256,
      size: release.size,
      from: RELEASE_FILES,
    },
    files: RELEASE_FILES,
    allowOneWay: options.spec.allowOneWay,
    quiet: options.quiet,
    quietUntil: new Date(now + options.quietDays * 86_400_000).toISOString(),
    at: new Date(now).toISOString(),
  };
}
