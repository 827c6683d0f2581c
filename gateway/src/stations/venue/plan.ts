import { type ClassVisit, VenuePlan, VenuePlanManifest } from '@educard/terminal-sdk';
import { reject } from '../../roster/errors.js';
import { checkBodyBytes, parseJson, parseSchema, verifyRosterSigned } from '../../roster/verify.js';
import {
  SignedSnapshotStore,
  type SignedSnapshotStoreOptions,
  type SnapshotKind,
} from '../../signed-snapshots/index.js';

/** A venue's plan as the station reads it: the class visits of a day. */
export interface VenuePlanView {
  readonly version: number;
  visitsOn(date: string): readonly ClassVisit[];
  readonly size: number;
}

/** The view of a plan: its visits by day. */
export function venuePlanView(plan: VenuePlan): VenuePlanView {
  const byDate = new Map<string, ClassVisit[]>();
  for (const visit of plan.visits) byDate.set(visit.date, [...(byDate.get(visit.date) ?? []), visit]);
  return { version: plan.version, visitsOn: (date) => byDate.get(date) ?? [], size: plan.visits.length };
}

const VENUE_PLAN: SnapshotKind<VenuePlanManifest, VenuePlanView> = {
  name: 'venue-plan',
  verifyManifest(bytes, keys, school) {
    const manifest = verifyRosterSigned(bytes, keys, VenuePlanManifest, 'venue plan manifest');
    if (manifest.school !== school)
      reject('wrong-school', `venue plan is for ${manifest.school}, this device is at ${school}`);
    return manifest;
  },
  load(manifest, bytes, maxBodyBytes) {
    checkBodyBytes(manifest.body, bytes, 'venue plan');
    const plan = parseSchema(VenuePlan, parseJson(bytes, 'venue plan', maxBodyBytes), 'venue plan');
    if (plan.version !== manifest.version || plan.school !== manifest.school)
      reject('inconsistent', 'venue plan version or venue differ from the manifest');
    const ids = new Set(plan.visits.map((visit) => visit.bookingId));
    if (ids.size !== plan.visits.length)
      reject('inconsistent', 'a booking id appears twice in the venue plan');
    return venuePlanView(plan);
  },
  size: (view) => view.size,
};

/** The venue's plan in force: the class visits booked at the bridge, signed by the roster keys. */
export class VenuePlanStore extends SignedSnapshotStore<VenuePlanManifest, VenuePlanView> {
  static open(options: SignedSnapshotStoreOptions): Promise<VenuePlanStore> {
    return SignedSnapshotStore.loaded(new VenuePlanStore(VENUE_PLAN, options));
  }
}
