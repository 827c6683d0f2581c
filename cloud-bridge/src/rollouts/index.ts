export { RolloutsConfig } from './config.js';
export { rolloutRoutes } from './http.js';
export {
  assignPhases,
  type RolloutDevice,
  RolloutRefused,
  type RolloutSpec,
  type RolloutSpecInput,
  type RolloutState,
  Rollouts,
  type RolloutView,
} from './service.js';
export { quietWindows, windowAt } from './windows.js';
