export {
  type BackendResult,
  BackendUnavailable,
  type CheckoutOutcome,
  type CheckoutRequest,
  LIBRARY_REFUSALS,
  type LibraryBackend,
  type LibraryBlock,
  type LibraryRefusal,
  type LoanInfo,
  type PatronRef,
  type PatronStatus,
  type RenewOutcome,
  type RenewRequest,
  type ReplayOutcome,
  type ReplayReport,
  type ReplayTransaction,
  type ReturnOutcome,
  type ReturnRequest,
} from './backend.js';
export { createLibraryStation, type LibraryBackendDeps, type LibraryBackendFactory } from './create.js';
export { type LedgerJournal, type Loan, LoanLedger, type TxnOutcome, type UnsettledEvent } from './ledger.js';
export { LocalLedgerBackend } from './local-backend.js';
export {
  DEFAULT_PROBE_INTERVAL_MS,
  OfflineReplay,
  type ProbeTimer,
  realProbeTimer,
  replayTransactionOf,
} from './replay.js';
export { LibraryStation, type LibraryStationConfig, type LibraryStationDeps } from './station.js';
