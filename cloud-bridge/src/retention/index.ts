export { DEFAULT_RETENTION_DAYS, RetentionConfig, type RetentionConfigInput } from './config.js';
export {
  type CentralAcks,
  type ForgottenBookings,
  type ForgottenInSchool,
  type PurgedEvents,
  type PurgeReport,
  RETENTION_LEASE,
  Retention,
  type RetentionDeps,
} from './purge.js';
export { retentionCutoff, retentionDays } from './rules.js';
