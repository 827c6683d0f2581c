export {
  SUBJECT_CSV_COLUMNS,
  type SubjectExport,
  type SubjectSources,
  subjectCsv,
  subjectExport,
} from './export.js';
export { type PrivacyRouteDeps, privacyRoutes } from './http.js';
export { Leavers, type LeaversDeps, PersonUnknown, type Removal } from './leavers.js';
export { asJournaled, PersonPseudonyms, type PseudonymDeps } from './pseudonyms.js';
export { PERSONAL_READS, type PersonalRead, ReadAudit, type ReadAuditSink } from './reads.js';
