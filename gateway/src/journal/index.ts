export type { JournalBreak } from './breaks.js';
export { Journal } from './journal.js';
export {
  type JournalCheck,
  JournalDamaged,
  JournalFollower,
  JournalReader,
  type StoredRecord,
  type TornTail,
} from './reader.js';
export {
  type ChainPoint,
  inspectJournal,
  type JournalCursor,
  MIN_FRAME_BYTES,
  readCursor,
} from './recovery.js';
export { type ReadableJournal, recordsSince } from './since.js';
export type { JournalCommit, JournalOptions, JournalStats } from './types.js';
