import type { HotlistStore } from '../../hotlist/index.js';
import type { VenuePlanStore } from './plan.js';

/** What a venue holds beside its roster's key sets: the hotlist and the plan of class visits. */
export interface VenueData {
  hotlist: HotlistStore;
  plan: VenuePlanStore;
}
