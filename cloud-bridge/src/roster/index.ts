export { RosterAnnouncer, type RosterMessages, snapshotPath } from './announce.js';
export { CSV_COLUMNS, parseRosterCsv, type RowProblem } from './csv.js';
export {
  KeySetRefused,
  loadOrCreateRosterKeys,
  loadRosterKeys,
  newRosterKeys,
  parseRootKeyFile,
  ROSTER_KEYS_FILE,
  RootKeyFile,
  RosterKeyring,
  type RosterKeys,
  rootKeyFileJson,
  rosterKeysJson,
  rosterKeysPath,
  saveRosterKeys,
} from './keys.js';
export { needsRenewal, RENEWAL_CHECK_MS, renewalTimer, type SignedDates } from './renewal.js';
export {
  DEFAULT_SETTINGS as DEFAULT_ROSTER_SETTINGS,
  type ImportInput,
  type ImportReport,
  type ReissueAs,
  RosterChangeRefused,
  RosterService,
  type SchoolChanges,
} from './service.js';
