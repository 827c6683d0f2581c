export {
  type BackupReport,
  makeBackup,
  RestoreRefused,
  type RestoreReport,
  restoreBackup,
} from './backup.js';
export { checkSqliteFile, type DumpReport, type StoreDump, sqliteDump } from './dump.js';
export {
  type LivePurge,
  livePostgresDump,
  postgresDump,
  restorePostgres,
} from './postgres.js';
export { newBackupKey, openSealedFile, sealFile } from './seal.js';
