export {
  auditRoster,
  loadRoster,
  type RosterAudit,
  type RosterAuditOptions,
  type RosterFileCheck,
  type RosterLoad,
} from './audit.js';
export { REJECTION_CODES, type RejectionCode, RosterRejected } from './errors.js';
export { RosterIndex, type RosterView } from './roster-index.js';
export {
  type AcceptResult,
  type BodySource,
  DEFAULT_MAX_BODY_BYTES,
  type RosterDamage,
  RosterStore,
  type RosterStoreOptions,
} from './store.js';
export {
  MAX_METADATA_BYTES,
  type VerifiedKeySet,
  verifyBody,
  verifyKeySet,
  verifyManifest,
} from './verify.js';
