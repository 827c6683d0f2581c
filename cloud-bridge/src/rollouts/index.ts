export { RolloutsConfig } from './config.js';
export { rolloutRoutes } from './http.js';
export {
  assignPhases,
  RolloutRefused,
  type RolloutSpec,
  type RolloutSpecInput,
  Rollouts,
} from './service.js';
export type { RolloutDevice, RolloutState, RolloutView } from './types.js';
export { quietWindows, windowAt } from './windows.js';
