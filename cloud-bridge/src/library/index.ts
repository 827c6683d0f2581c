export { booksOutReader } from './books-out.js';
export { CATALOGUE_COLUMNS, parseCatalogueCsv } from './csv.js';
export { type LibraryHttpDeps, libraryAdminRoutes, libraryPublicRoutes } from './http.js';
export {
  type ConflictRecord,
  LIBRARY_EVENT_TYPES,
  type LibraryEventRow,
  type LoanRecord,
  replayItem,
} from './ledger.js';
export { type LoanConflict, type LoanFilter, LoanLedger } from './loans.js';
export {
  libraryOverdueSources,
  OVERDUE_CSV_COLUMNS,
  type OverdueSources,
  overdueCsv,
  overdueList,
} from './overdue.js';
export {
  type CatalogueImportInput,
  CatalogueService,
  type CatalogueServiceDeps,
  cataloguePath,
} from './service.js';
export type {
  BookOut,
  CatalogueImportReport,
  ItemProblem,
  LoanConflictView,
  NamedLoan,
  OverdueList,
  OverdueLoan,
  ParentReminder,
} from './types.js';
