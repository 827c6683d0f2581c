export { CSV_COLUMNS, parseRosterCsv, type RowProblem } from './csv.js';
export { loadOrCreateRosterKeys, type RosterKeys } from './keys.js';
export {
  type ImportInput,
  type ImportReport,
  RosterChangeRefused,
  RosterService,
  snapshotPath,
} from './service.js';
