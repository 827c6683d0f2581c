export { lockdownRoutes } from './http.js';
export { LOCKDOWN_COMMAND_TTL_MS, type LockdownDeps, Lockdowns } from './service.js';
export type { GateLockdown, LockdownView, SchoolLockdown } from './types.js';
