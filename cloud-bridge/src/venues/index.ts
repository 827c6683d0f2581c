import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BodyGrants } from '../grants/index.js';
import type { RosterKeyring } from '../roster/index.js';
import type { BridgeStore } from '../store/index.js';
import { HotlistService } from './hotlist.js';
import { VenuePlans } from './plans.js';
import { migrateVenues } from './tables.js';
import { admissionProjection, type VenueDay, venueDays } from './visits.js';

export { type HotlistInput, HotlistService, type HotlistStatusView, hotlistPath } from './hotlist.js';
export { venuesPublicRoutes, venuesRoutes } from './http.js';
export {
  type Booking,
  BookingRefused,
  type BookingRequest,
  forgetBookingsBefore,
  VenuePlans,
} from './plans.js';
export type { VenueDay } from './visits.js';

export interface VenuesDeps {
  store: BridgeStore;
  client: MqttClient;
  keys: RosterKeyring;
  logger: Logger;
  grants: BodyGrants;
  now?: () => Date;
  hotlistTtlMs?: number;
  renewalCheckMs?: number;
}

/**
 * What the bridge does for venues (docs/venues.md): the district's hotlist, the class visits booked
 * and the plans they make, and each venue's visits per day. Made before ingest starts, so its
 * projection sees every event committed.
 */
export class Venues {
  readonly hotlist: HotlistService;
  readonly plans: VenuePlans;

  constructor(private readonly deps: VenuesDeps) {
    const db = deps.store.database;
    migrateVenues(db);
    deps.store.addCommitProjection(admissionProjection(db));
    const common = {
      store: deps.store,
      client: deps.client,
      keys: deps.keys,
      logger: deps.logger.child({ component: 'venues' }),
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.renewalCheckMs ? { renewalCheckMs: deps.renewalCheckMs } : {}),
    };
    this.hotlist = new HotlistService({
      ...common,
      grants: deps.grants,
      ...(deps.hotlistTtlMs ? { manifestTtlMs: deps.hotlistTtlMs } : {}),
    });
    this.plans = new VenuePlans(common);
  }

  /** Takes up the hotlist last published: on every instance, since each publishes the changes made through it. */
  async start(): Promise<void> {
    await this.hotlist.start();
  }

  /**
   * The plans announced, and the hotlist and the plans signed again when due, on a timer: one
   * instance's duty among those sharing the store (the manifests', with the rosters' renewal).
   */
  async startRenewals(): Promise<void> {
    this.hotlist.startRenewals();
    await this.plans.start();
  }

  stopRenewals(): void {
    this.hotlist.stopRenewals();
    this.plans.stop();
  }

  /** After a key rotation: the hotlist and the plans signed again under the new key. */
  async reissueStale(): Promise<void> {
    await this.hotlist.renew();
    await this.plans.renew();
  }

  /** Each venue's visits per day for the last `days` days, of one site or of every one. */
  visitsPerDay(days: number, site?: string): VenueDay[] {
    const now = this.deps.now?.() ?? new Date();
    // A day back more than asked: `day` is each venue's local date, which may run ahead of UTC.
    const fromDay = new Date(now.getTime() - days * 86_400_000).toISOString().slice(0, 10);
    return venueDays(this.deps.store.database, { fromDay, ...(site ? { site } : {}) });
  }
}
