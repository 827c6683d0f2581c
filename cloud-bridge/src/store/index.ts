export { isStoreFull, logFailure } from './failures.js';
export { inPacedBatches, type Pace } from './paced.js';
export {
  CONNECTION_BOUNDS,
  IDLE_IN_TRANSACTION_MS,
  isConnectionFailure,
  isDatabaseUnreachable,
  isServerUnreachable,
  isStatementTimedOut,
  LIBPQ_REMEDY,
  LOCK_WAIT_MS,
  openPostgresConnection,
  PostgresError,
  type PostgresSessionOptions,
  RECONNECT_WAITS_MS,
  STATEMENT_TIMEOUT_MS,
  withConnectionBounds,
  withSearchPath,
} from './pg-connection.js';
export { openPostgresStore } from './postgres.js';
export {
  type CommitProjection,
  type CommittedEvent,
  committedData,
  type ProjectionOptions,
} from './projections.js';
export { statementCache, whereOf } from './query.js';
export { type BadRow, type BadRowSink, eachRow, usableIds } from './rows.js';
export {
  type DatabaseUnreachable,
  lockWithinTransaction,
  type ModuleSteps,
  migrateModule,
  type SqlDatabase,
  type SqlDialect,
  type SqlRunResult,
  type SqlStatement,
  type SqlTransaction,
  sqliteDatabase,
  tableExists,
} from './sql.js';
export { openSqliteStore, type SqliteBridgeStore } from './sqlite.js';
export type {
  BridgeStore,
  CatalogueVersion,
  ChainPoint,
  CommitResult,
  DeclaredLoss,
  Device,
  EnrollingDevice,
  EnrollOutcome,
  EventFilter,
  JournalLoss,
  LossFilter,
  Presence,
  RosterCommit,
  RosterSettings,
  RosterVersion,
  StoredEvent,
  TokenGrant,
} from './types.js';
export { commitUnhurried } from './unhurried.js';
