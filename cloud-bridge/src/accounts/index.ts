export { type AuditFilter, AuditLog, type StoredAuditEntry } from './audit.js';
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
export type { Account } from './store.js';
