export { RolloutsConfig } from './config.js';
export { rolloutRoutes } from './http.js';
export { RolloutRefused, Rollouts } from './service.js';
export { assignPhases, type RolloutSpec, type RolloutSpecInput } from './spec.js';
export type { RolloutDevice, RolloutState, RolloutView } from './types.js';
export { quietWindows, windowAt } from './windows.js';
