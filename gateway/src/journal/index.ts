export type { JournalBreak } from './breaks.js';
export {
  type ChainPoint,
  inspectJournal,
  Journal,
  type JournalCommit,
  type JournalCursor,
  type JournalOptions,
  type JournalStats,
  readCursor,
} from './journal.js';
export {
  type JournalCheck,
  JournalDamaged,
  JournalFollower,
  JournalReader,
  type StoredRecord,
  type TornTail,
} from './reader.js';
export { MIN_FRAME_BYTES } from './recovery.js';
export { type ReadableJournal, recordsSince } from './since.js';
