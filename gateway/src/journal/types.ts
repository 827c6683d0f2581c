import type { Logger } from '../log/index.js';
import type { JournalBreak } from './breaks.js';

export interface JournalOptions {
  dir: string;
  device: string;
  logger: Logger;
  /** A segment is closed and a new one begun past this size. */
  segmentBytes?: number;
  /** The journal's share of the disk; an alarm event is journaled at 80% of it. */
  budgetBytes?: number;
  /** Free space on the file system below which the same alarm is raised. */
  minFreeBytes?: number;
  /**
   * Records held in memory while they cannot be written (a full disk, a failing one): past this many
   * the oldest are dropped, and counted as lost. A disk that writes drains whatever a burst queued.
   */
  maxHeldRecords?: number;
  /** How long close() waits for the disk before it reports what it could not make durable. */
  closeTimeoutMs?: number;
  /** Told when the disk fills or frees, runs low or recovers, or records are first lost. */
  onStorageChange?: () => void;
  now?: () => Date;
  /** Told of each group commit (write and fsync) as it ends: the gateway's metrics time them. */
  onCommit?: (commit: JournalCommit) => void;
}

/** One group commit: how many records, how long the write and its fsync took, and whether they worked. */
export interface JournalCommit {
  records: number;
  seconds: number;
  ok: boolean;
}

export interface JournalStats {
  lastSeq: number;
  lastHash: string;
  durableSeq: number;
  ackedSeq: number;
  backlog: number;
  /** When the oldest event the bridge has not acknowledged happened. */
  oldestUnackedAt: string | undefined;
  segments: number;
  bytes: number;
  /** fsyncs done: group commit makes this far smaller than the number of appends. */
  commits: number;
  /** Bytes of a torn tail dropped when the journal was opened. */
  recoveredBytes: number;
  diskLow: boolean;
  /** The last write failed (no space, or the disk failing): records wait in memory. */
  diskFull: boolean;
  /** Free space as last checked. */
  freeBytes: number | undefined;
  lastWriteError: string | undefined;
  /** Records in memory, not yet on disk, and the most that may be. */
  held: number;
  maxHeld: number;
  /** Records lost since the journal was opened: the oldest held, dropped past the bound. */
  lost: number;
  /** Files moved to quarantine when the journal was opened. */
  quarantined: string[];
  /** Problems with the journal's small files at open, and how each was met. */
  notes: string[];
  /** The newest loss the journal explains, if any is on record. */
  lastBreak: JournalBreak | undefined;
  /** Damage found by a read while running (it is quarantined at the next start). */
  damagedNow: string | undefined;
}
