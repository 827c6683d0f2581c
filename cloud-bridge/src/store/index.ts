export { statementCache, whereOf } from './query.js';
export {
  type CommitProjection,
  type CommittedEvent,
  committedData,
  migrateModule,
  openSqliteStore,
  type SqliteBridgeStore,
} from './sqlite.js';
export type {
  BridgeStore,
  CatalogueVersion,
  ChainPoint,
  Device,
  EventFilter,
  LoanConflict,
  LoanFilter,
  Presence,
  RosterCommit,
  RosterSettings,
  RosterVersion,
  StoredEvent,
} from './types.js';
