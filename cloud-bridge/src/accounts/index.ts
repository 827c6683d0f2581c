export { type AuditFilter, AuditLog } from './audit.js';
export { accountRoutes, SESSION_COOKIE, sessionResolver, sessionRoutes } from './http.js';
export { PASSWORD_MIN_LENGTH } from './passwords.js';
export {
  AccountPatch,
  AccountRefused,
  type AccountSettings,
  Accounts,
  type AccountsDeps,
  type Caller,
  DEFAULT_ACCOUNT_SETTINGS,
  NewAccount,
} from './service.js';
export type { Account, SessionView, StoredAuditEntry } from './types.js';
