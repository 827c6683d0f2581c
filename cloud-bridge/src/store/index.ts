export { statementCache, whereOf } from './query.js';
export { type BadRow, type BadRowSink, eachRow, usableIds } from './rows.js';
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
  EnrollingDevice,
  EnrollOutcome,
  EventFilter,
  LoanConflict,
  LoanFilter,
  Presence,
  RosterCommit,
  RosterSettings,
  RosterVersion,
  StoredEvent,
  TokenGrant,
} from './types.js';
