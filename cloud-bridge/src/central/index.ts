export {
  type Applied,
  type ApplyOptions,
  ChangeApplier,
  type ChangeApplierDeps,
  cardEntryOf,
  type SchoolDays,
} from './apply.js';
export { CentralClient, CentralUnavailable } from './client.js';
export * from './contract.js';
export { checkPage, FeedPuller, type FeedStatus, type PullResult } from './feed.js';
export { FileExchange, type FileStatus, type ImportFileReport, previousSchoolDay } from './files.js';
export { growthRecordOf } from './growth.js';
export { centralRoutes } from './http.js';
export {
  batchKey,
  type CentralAlarm,
  type DeadLetter,
  Outbox,
} from './outbox.js';
export { type CentralDeps, CentralService, type CentralStatus } from './service.js';
export { CentralState } from './tables.js';
export type { PushStatus } from './types.js';
