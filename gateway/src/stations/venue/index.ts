export { VenueConfig } from './config.js';
export { createVenueStation } from './create.js';
export type { VenueData } from './data.js';
export { VenuePlanStore, type VenuePlanView, venuePlanView } from './plan.js';
export { type VenueDayStatus, VenueStation, type VenueStationDeps, type VenueTap } from './station.js';
