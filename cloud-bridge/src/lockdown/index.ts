export { lockdownRoutes } from './http.js';
export {
  type GateLockdown,
  LOCKDOWN_COMMAND_TTL_MS,
  type LockdownDeps,
  Lockdowns,
  type SchoolLockdown,
} from './service.js';
