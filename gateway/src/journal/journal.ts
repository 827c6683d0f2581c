import { type FileHandle, open, readFile, rm, statfs } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  type BatchLoss,
  canonicalBytes,
  clockStampOf,
  type EventBody,
  type EventRecord,
  eventHash,
  SPEC_VERSION,
} from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import { fsyncDirectory, writeFileDurable } from '../storage/index.js';
import { BreaksFileStore, breakBefore, damagedData, type JournalBreak } from './breaks.js';
import { ChainWalker } from './chain-check.js';
import { encodeFrame, HEADER_BYTES } from './frame.js';
import {
  type ChainPoint,
  CURSOR,
  GENESIS,
  type JournalCursor,
  readCursorFile,
  recoverJournal,
  type Unsaved,
  unsavedPath,
  writeHead,
} from './recovery.js';
import { lastRecordOf, listSegments, recordsOf, type Segment, segmentName } from './segments.js';

export type { ChainPoint, JournalCursor } from './recovery.js';

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

interface Held {
  frame: Buffer;
  seq: number;
  /** The hash the record names as the one before it: where the chain resumes if those before are lost. */
  prev: string;
}

interface FrameIndex {
  offsets: number[];
  /** The byte after the last frame indexed. */
  end: number;
  /** The extension under way, if any. */
  extending: Promise<void>;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

const DISK_CHECK_MS = 5_000;
const RETRY_MAX_MS = 5_000;

/**
 * The device's event log: append-only segment files of CRC-framed records, each chained to the one
 * before by its hash, with per-device sequence numbers that only grow. An append returns at once;
 * a group commit writes and fsyncs whatever has queued, so the gate never waits for the disk.
 *
 * The journal survives its own storage. Damage found at open is quarantined and explained (see
 * recoverJournal). While the disk is full, records wait in memory up to `maxHeldRecords`; past that
 * the oldest are dropped and counted, and when space returns the rest are written in order after a
 * `journal.damaged` record explains the numbers lost. close() waits a bounded time for the disk.
 */
export class Journal {
  private segments: Segment[];
  private active: FileHandle | undefined;
  /** Records not yet durable, oldest first; the first `writing` of them are in the write under way. */
  private queue: Held[] = [];
  private writing = 0;
  /** Records of the write under way dropped from the queue meanwhile: lost only if that write fails. */
  private writingDropped = 0;
  private waiters: Waiter[] = [];
  private committing: Promise<void> | undefined;
  private commits = 0;
  private lastSeq: number;
  private lastHash: string;
  private durableSeq: number;
  private cursor: JournalCursor;
  private oldestUnackedAt: string | undefined;
  private diskLow = false;
  private diskFull = false;
  private freeBytes: number | undefined;
  private lastWriteError: string | undefined;
  private lost = 0;
  private diskCheckedAt = Number.NEGATIVE_INFINITY;
  private retryMs = 50;
  private headPending: number | undefined;
  private damagedNow: string | undefined;
  private wakeRetry: (() => void) | undefined;
  private closed = false;
  private breaks: JournalBreak[];
  private breaksWriting: Promise<void> = Promise.resolve();
  /** Where each frame of a segment starts, filled as far as reads have needed: reads seek, never rescan. */
  private readonly frameIndex = new Map<Segment, FrameIndex>();
  private acking: Promise<void> = Promise.resolve();
  private ackQueued: Promise<void> | undefined;
  private ackWanted = 0;
  private readonly segmentBytes: number;
  private readonly budgetBytes: number;
  private readonly minFreeBytes: number;
  private readonly maxHeld: number;
  private readonly closeTimeoutMs: number;
  private readonly now: () => Date;
  private readonly breaksFile: BreaksFileStore;

  private constructor(
    private readonly options: JournalOptions,
    recovered: Awaited<ReturnType<typeof recoverJournal>>,
  ) {
    this.segments = recovered.segments;
    this.cursor = recovered.cursor;
    this.breaks = recovered.breaks;
    this.recoveredBytes = recovered.recoveredBytes;
    this.quarantined = recovered.quarantined;
    this.notes = recovered.notes;
    this.lastSeq = recovered.next.seq;
    this.lastHash = recovered.next.hash;
    this.durableSeq = recovered.next.seq;
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    this.budgetBytes = options.budgetBytes ?? 512 * 1024 * 1024;
    this.minFreeBytes = options.minFreeBytes ?? 64 * 1024 * 1024;
    this.maxHeld = options.maxHeldRecords ?? 50_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 3_000;
    this.now = options.now ?? (() => new Date());
    this.breaksFile = new BreaksFileStore(options.dir);
  }

  readonly recoveredBytes: number;
  readonly quarantined: string[];
  readonly notes: string[];
  /** When the newest record found at open happened: a time the device has surely seen. */
  newestAt: string | undefined;

  static async open(options: JournalOptions): Promise<Journal> {
    const recovered = await recoverJournal({
      dir: options.dir,
      logger: options.logger,
      segmentBytes: options.segmentBytes ?? 4 * 1024 * 1024,
      now: options.now ?? (() => new Date()),
    });
    const journal = new Journal(options, recovered);
    const kept = journal.segments.findLast((s) => s.lastSeq >= s.firstSeq);
    if (kept) journal.newestAt = (await journal.read(kept.lastSeq, 1))[0]?.at;
    const newest = journal.segments.at(-1);
    if (newest && newest.lastSeq === journal.lastSeq) journal.active = await open(newest.path, 'a');
    // The break the chain resumes after first: its record is the one that links on from it.
    const unexplained = journal.breaks
      .filter((b) => b.damagedSeq === undefined || b.damagedSeq > journal.durableSeq)
      .sort((a, b) => (b.lastSeq === journal.lastSeq ? 1 : 0) - (a.lastSeq === journal.lastSeq ? 1 : 0));
    for (const b of unexplained) journal.explain(b);
    journal.oldestUnackedAt = (await journal.read(journal.cursor.acked.seq + 1, 1))[0]?.at;
    return journal;
  }

  /**
   * Appends an event and returns its record at once, without waiting for the disk. The record is
   * durable when {@link durable} resolves for its sequence number.
   */
  append(body: EventBody): EventRecord {
    if (this.closed) throw new Error('journal is closed');
    const unsigned = {
      spec: SPEC_VERSION,
      device: this.options.device,
      seq: this.lastSeq + 1,
      at: body.at,
      ...clockStampOf(body),
      type: body.type,
      data: body.data as Record<string, unknown>,
      prev: this.lastHash,
    };
    const record: EventRecord = { ...unsigned, hash: eventHash(unsigned) };
    this.queue.push({ frame: encodeFrame(canonicalBytes(record)), seq: record.seq, prev: record.prev });
    this.lastSeq = record.seq;
    this.lastHash = record.hash;
    if (this.oldestUnackedAt === undefined) this.oldestUnackedAt = record.at;
    // Bounded while the disk takes no writes; a disk that writes, only behind a burst, drains it.
    if (this.diskFull && this.queue.length > this.maxHeld) this.dropOldest();
    this.scheduleCommit();
    return record;
  }

  /** Resolves once the record `seq` (by default the last appended) is on disk and fsynced. */
  durable(seq = this.lastSeq): Promise<void> {
    if (seq <= this.durableSeq) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  flush(): Promise<void> {
    return this.durable(this.lastSeq);
  }

  /**
   * Up to `limit` durable records from `fromSeq` on, in order and consecutive: a read that starts in
   * a range of lost records begins after it, and one that meets such a range stops before it.
   */
  async read(fromSeq: number, limit: number): Promise<EventRecord[]> {
    const records: EventRecord[] = [];
    const durable = this.durableSeq;
    let seq = Math.max(fromSeq, this.segments[0]?.firstSeq ?? 1);
    while (records.length < limit && seq <= durable) {
      const segment = this.segments.findLast((s) => s.firstSeq <= seq);
      if (!segment || seq > segment.lastSeq) {
        if (records.length > 0) break;
        const next = this.segments.find((s) => s.firstSeq > seq && s.lastSeq >= s.firstSeq);
        if (!next) break;
        seq = next.firstSeq;
        continue;
      }
      const upTo = Math.min(segment.lastSeq, durable, seq + (limit - records.length) - 1);
      // The index covers at least up to `upTo`; appends made durable meanwhile may take it further.
      const index = await this.indexFrames(segment);
      const start = index.offsets[seq - segment.firstSeq] as number;
      const end = index.offsets[upTo + 1 - segment.firstSeq] ?? index.end;
      let expected = seq;
      for (const { record } of recordsOf(await readRange(segment.path, start, end))) {
        if (record.seq !== expected) break;
        records.push(record);
        expected += 1;
      }
      if (expected <= upTo) {
        // Rot found while running: reported (status, doctor) and met at the next start, as at any start.
        const found = `${basename(segment.path)} is damaged at record ${expected}`;
        if (this.damagedNow !== found) {
          this.damagedNow = found;
          this.options.logger.error(
            { segment: segment.path, seq: expected },
            `journal ${found}: a restart quarantines it`,
          );
          this.storageChanged();
        }
        throw new Error(`journal segment ${found}: the gateway quarantines it at its next start`);
      }
      seq = upTo + 1;
    }
    return records;
  }

  /**
   * The loss a batch starting at `seq` declares, when records just before it were lost and the
   * journal has explained it (see EventBatch.lost).
   */
  lossBefore(seq: number): BatchLoss | undefined {
    const found = breakBefore(this.breaks, seq);
    if (found?.damagedSeq === undefined) return undefined;
    return {
      firstSeq: found.firstSeq as number,
      lastSeq: found.lastSeq as number,
      cause: found.cause,
      ...(found.bound ? { bound: true } : {}),
      damagedSeq: found.damagedSeq,
    };
  }

  /**
   * Extends a segment's frame index over the bytes written since it was last extended. Reads run
   * concurrently (the uplink's, an ack's), so extensions of one index run one after another.
   */
  private async indexFrames(segment: Segment): Promise<FrameIndex> {
    let index = this.frameIndex.get(segment);
    if (!index) {
      index = { offsets: [], end: 0, extending: Promise.resolve() };
      this.frameIndex.set(segment, index);
    }
    const target = index;
    const extension = target.extending.then(async () => {
      const through = segment.bytes;
      if (target.end >= through) return;
      const bytes = await readRange(segment.path, target.end, through);
      let offset = 0;
      while (offset + HEADER_BYTES <= bytes.length) {
        target.offsets.push(target.end + offset);
        offset += HEADER_BYTES + bytes.readUInt32LE(offset);
      }
      if (offset !== through - target.end) throw new Error(`journal segment ${segment.path} ends mid-frame`);
      target.end = through;
    });
    target.extending = extension.catch(() => undefined);
    await extension;
    return target;
  }

  /**
   * Records that the bridge has committed everything up to `seq`, durably, and deletes the segments
   * it wholly covers: never the newest, so the chain's tip survives a restart. Space freed wakes a
   * write waiting for it.
   */
  acknowledge(seq: number): Promise<void> {
    // One at a time, each moving the cursor on from where the last left it; acks that arrive while
    // one is being written join the next write, so a burst of acks costs one cursor write, not many.
    if (seq > this.durableSeq) {
      return Promise.reject(
        new RangeError(`cannot acknowledge ${seq}: the journal is durable up to ${this.durableSeq}`),
      );
    }
    this.ackWanted = Math.max(this.ackWanted, seq);
    if (!this.ackQueued) {
      const run = this.acking.then(() => {
        this.ackQueued = undefined;
        return this.acknowledgeNow(this.ackWanted);
      });
      this.ackQueued = run;
      this.acking = run.catch(() => undefined);
    }
    return this.ackQueued;
  }

  private async acknowledgeNow(seq: number): Promise<void> {
    if (seq <= this.cursor.acked.seq) return;
    const [record] = await this.read(seq, 1);
    if (record?.seq !== seq) throw new RangeError(`record ${seq} is not in the journal`);
    const removable = this.segments.slice(0, -1).filter((s) => s.lastSeq <= seq);
    let base = this.cursor.base;
    const lastRemoved = removable.findLast((s) => s.lastSeq >= s.firstSeq);
    if (lastRemoved) {
      const [tail] = await this.read(lastRemoved.lastSeq, 1);
      if (tail) base = { seq: tail.seq, hash: tail.hash };
    }
    this.cursor = { acked: { seq, hash: record.hash }, base };
    await writeFileDurable(join(this.options.dir, CURSOR), JSON.stringify(this.cursor));
    if (removable.length) {
      for (const segment of removable) {
        await rm(segment.path, { force: true });
        this.frameIndex.delete(segment);
      }
      await fsyncDirectory(this.options.dir);
      this.segments = this.segments.slice(removable.length);
      this.wakeRetry?.();
    }
    this.oldestUnackedAt = (await this.read(seq + 1, 1))[0]?.at;
  }

  stats(): JournalStats {
    return {
      lastSeq: this.lastSeq,
      lastHash: this.lastHash,
      durableSeq: this.durableSeq,
      ackedSeq: this.cursor.acked.seq,
      backlog: this.lastSeq - this.cursor.acked.seq,
      oldestUnackedAt: this.lastSeq > this.cursor.acked.seq ? this.oldestUnackedAt : undefined,
      segments: this.segments.length,
      bytes: this.segments.reduce((sum, s) => sum + s.bytes, 0),
      commits: this.commits,
      recoveredBytes: this.recoveredBytes,
      diskLow: this.diskLow,
      diskFull: this.diskFull,
      freeBytes: this.freeBytes,
      lastWriteError: this.lastWriteError,
      held: this.queue.length,
      maxHeld: this.maxHeld,
      lost: this.lost,
      quarantined: this.quarantined,
      notes: this.notes,
      lastBreak: this.breaks.at(-1),
      damagedNow: this.damagedNow,
    };
  }

  /**
   * Checks the whole retained chain: sequence, links and hashes, from the last deleted record on. A
   * break the journal explains (a `journal.damaged` record naming it) is not a failure.
   */
  async verify(): Promise<{ ok: true; records: number } | { ok: false; seq: number; problem: string }> {
    await this.flush();
    const start = this.cursor.base.seq > 0 || this.segments[0]?.firstSeq === 1 ? this.cursor.base : undefined;
    const walker = new ChainWalker<undefined>(start);
    for (const segment of this.segments) {
      for (const { record } of recordsOf(await readFile(segment.path))) {
        if (!walker.add(record, undefined)) break;
      }
    }
    const broken = walker.finish();
    return broken
      ? { ok: false, seq: broken.seq, problem: broken.problem }
      : { ok: true, records: walker.records };
  }

  /**
   * Waits for what is held to reach the disk, at most `closeTimeoutMs`; what it could not make
   * durable is logged and written to `unsaved.json` (or, when even that cannot be written, printed),
   * so that the next start journals the loss.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const deadline = performance.now() + this.closeTimeoutMs;
    const flushed = await this.heldWritten(deadline);
    await withDeadline(this.acking, deadline);
    await withDeadline(this.breaksWriting, deadline);
    this.closed = true;
    this.wakeRetry?.();
    if (!flushed && this.queue.length > 0) await this.reportUnsaved(deadline);
    if (this.writing === 0) await this.active?.close().catch(() => undefined);
    this.active = undefined;
  }

  /** Whether everything held reached the disk before the deadline (each failed try is waited past). */
  private async heldWritten(deadline: number): Promise<boolean> {
    while (this.queue.length > 0) {
      const newest = (this.queue.at(-1) as Held).seq;
      if (
        !(await withDeadline(
          this.durable(newest).catch(() => undefined),
          deadline,
        ))
      )
        return false;
    }
    return true;
  }

  private async reportUnsaved(deadline: number): Promise<void> {
    const unsaved: Unsaved = {
      records: this.queue.length,
      firstSeq: (this.queue[0] as Held).seq,
      lastSeq: (this.queue.at(-1) as Held).seq,
      lost: this.lost,
      at: this.now().toISOString(),
    };
    this.options.logger.error(
      { ...unsaved, error: this.lastWriteError },
      'journal closed with records it could not make durable',
    );
    const written = await withDeadline(
      writeFileDurable(unsavedPath(this.options.dir), JSON.stringify(unsaved)),
      Math.max(deadline, performance.now() + 500),
    ).catch(() => false);
    if (!written) {
      process.stderr.write(
        `educard journal: ${unsaved.records} record(s) (${unsaved.firstSeq} to ${unsaved.lastSeq}) could not be made durable at stop, and the count could not be written: ${JSON.stringify(unsaved)}\n`,
      );
    }
  }

  private scheduleCommit(): void {
    if (this.committing || this.closed) return;
    this.committing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.commitLoop())
      .finally(() => {
        this.committing = undefined;
        if (this.queue.length) this.scheduleCommit();
      });
  }

  private async commitLoop(): Promise<void> {
    while (this.queue.length && !this.closed) {
      let through: number;
      let commit: { records: number; started: number } | undefined;
      try {
        const bytes = await this.takeBatch();
        through = (this.queue[this.writing - 1] as Held).seq;
        commit = { records: this.writing, started: performance.now() };
        await this.writeDurably(bytes, through);
        this.timed(commit, true);
      } catch (error) {
        if (commit) this.timed(commit, false);
        this.writing = 0;
        this.writingDropped = 0;
        this.fail(error as Error);
        await this.retryPause();
        continue;
      }
      this.queue.splice(0, this.writing);
      this.writing = 0;
      this.lost -= this.writingDropped;
      this.writingDropped = 0;
      this.retryMs = 50;
      this.durableSeq = through;
      this.commits += 1;
      this.settle(through);
      if (this.diskFull) this.recovered();
      for (const b of this.breaks.filter((b) => b.damagedSeq === undefined && (b.lastSeq ?? 0) < through))
        this.explain(b);
      this.checkDisk();
    }
  }

  /** The metrics' view of one group commit: its write and fsync, not what came before them. */
  private timed(commit: { records: number; started: number }, ok: boolean): void {
    const seconds = (performance.now() - commit.started) / 1000;
    this.options.onCommit?.({ records: commit.records, seconds, ok });
  }

  /**
   * What fits in the active segment, starting a new one when the next record does not fit, or does
   * not follow the last one written (records lost between): that break is put on record first.
   */
  private async takeBatch(): Promise<Buffer> {
    for (;;) {
      const first = this.queue[0] as Held;
      if (this.headPending !== undefined) await this.writeHeadNow(this.headPending);
      let segment = this.segments.at(-1);
      if (!segment || first.seq !== segment.lastSeq + 1) {
        if (segment && first.seq > segment.lastSeq + 1) await this.noteDropped(segment.lastSeq + 1, first);
        await this.startSegment(first.seq);
      } else if (segment.bytes > 0 && segment.bytes + first.frame.length > this.segmentBytes) {
        await this.startSegment(first.seq);
      }
      // Dropped while the segment was begun: begin again from the oldest record still held.
      if (this.queue[0] !== first) continue;
      segment = this.segments.at(-1) as Segment;
      let size = segment.bytes;
      let count = 0;
      for (const item of this.queue) {
        if (count > 0 && size + item.frame.length > this.segmentBytes) break;
        size += item.frame.length;
        count += 1;
      }
      this.writing = count;
      return Buffer.concat(this.queue.slice(0, count).map((h) => h.frame));
    }
  }

  private async writeDurably(bytes: Buffer, lastSeq: number): Promise<void> {
    const segment = this.segments.at(-1) as Segment;
    const handle = this.active as FileHandle;
    try {
      // A nearly full disk takes part of a write and says so only in the count: write the rest, or fail.
      for (let written = 0; written < bytes.length; ) {
        const { bytesWritten } = await handle.write(bytes, written);
        if (bytesWritten === 0) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
        written += bytesWritten;
      }
      await handle.datasync();
    } catch (error) {
      // A partial write must not stay in front of the retry: cut the segment back to its last whole frame.
      await handle.truncate(segment.bytes).catch(() => undefined);
      throw error;
    }
    segment.bytes += bytes.length;
    segment.lastSeq = lastSeq;
  }

  /** A new segment file for records from `firstSeq`, in place of an active one still empty. */
  private async startSegment(firstSeq: number): Promise<void> {
    await this.active?.close();
    this.active = undefined;
    const empty = this.segments.at(-1);
    if (empty && empty.bytes === 0) {
      await rm(empty.path, { force: true });
      this.segments.pop();
    }
    const path = join(this.options.dir, segmentName(firstSeq));
    this.active = await open(path, 'a');
    this.segments.push({ path, firstSeq, lastSeq: firstSeq - 1, bytes: 0 });
    this.diskCheckedAt = Number.NEGATIVE_INFINITY;
    // Before anything is written to it: a newest segment that later vanishes is noticed at open.
    await this.writeHeadNow(firstSeq);
  }

  /** Records the newest segment begun; until that write succeeds, the next batch tries it again. */
  private async writeHeadNow(firstSeq: number): Promise<void> {
    this.headPending = firstSeq;
    await writeHead(this.options.dir, firstSeq, this.segmentBytes);
    this.headPending = undefined;
  }

  /** The oldest record held goes, counted: the bound on memory holds whatever the disk does. */
  private dropOldest(): void {
    const dropped = this.queue.shift() as Held;
    if (this.writing > 0) {
      this.writing -= 1;
      this.writingDropped += 1;
    }
    if (this.lost === 0) {
      this.options.logger.error(
        { maxHeld: this.maxHeld, seq: dropped.seq },
        'journal memory bound reached: the oldest records held are dropped, and counted, until the disk takes writes again',
      );
    }
    this.lost += 1;
    const gone = this.waiters.filter((w) => w.seq === dropped.seq);
    this.waiters = this.waiters.filter((w) => w.seq !== dropped.seq);
    for (const waiter of gone)
      waiter.reject(new Error(`record ${dropped.seq} was dropped: the disk is full`));
    if (this.lost === 1) this.storageChanged();
  }

  /**
   * Records `firstLost`..`next.seq - 1` were dropped while the disk was full: the break goes on record
   * (breaks.json, before the segment that resumes after it is begun) and its `journal.damaged` record
   * is appended once that segment is written.
   */
  private async noteDropped(firstLost: number, next: Held): Promise<void> {
    const lastLost = next.seq - 1;
    const covered = this.breaks.some(
      (b) => b.firstSeq !== undefined && b.firstSeq <= firstLost && (b.lastSeq as number) >= lastLost,
    );
    if (covered) return;
    // The disk refused again before the break was explained, and more were dropped: still one break.
    const open = this.breaks.find(
      (b) =>
        b.damagedSeq === undefined &&
        b.cause === 'disk-full' &&
        (b.firstSeq as number) <= lastLost &&
        (b.lastSeq as number) >= firstLost - 1,
    );
    const b: JournalBreak = open ?? {
      cause: 'disk-full',
      firstSeq: firstLost,
      lastSeq: lastLost,
      records: 0,
      reason: '',
      at: this.now().toISOString(),
    };
    if (!open) this.breaks.push(b);
    b.firstSeq = Math.min(b.firstSeq as number, firstLost);
    b.lastSeq = lastLost;
    b.records = lastLost - b.firstSeq + 1;
    b.resumeHash = next.prev;
    b.reason = `${b.records} record(s) dropped from memory while the disk was full (the bound is ${this.maxHeld})`;
    await this.breaksFile.write(this.breaks, (held) => this.needed(held));
  }

  /** Appends the `journal.damaged` record of a break. */
  private explain(b: JournalBreak): void {
    const record = this.append({
      type: 'journal.damaged',
      at: this.now().toISOString(),
      clock: 'unsynced',
      data: damagedData(b),
    });
    b.damagedSeq = record.seq;
    this.persistBreaks();
    this.storageChanged();
  }

  /** Whether a break must stay on file: the journal still holds what follows it, or its record is unacknowledged. */
  private needed(b: JournalBreak): boolean {
    return (
      (b.lastSeq ?? 0) >= this.cursor.base.seq ||
      b.damagedSeq === undefined ||
      b.damagedSeq > this.cursor.acked.seq
    );
  }

  private persistBreaks(): void {
    this.breaksWriting = this.breaksWriting
      .then(() => this.breaksFile.write(this.breaks, (b) => this.needed(b)))
      .catch((error: unknown) =>
        this.options.logger.warn({ err: error }, 'journal breaks not written; written with the next'),
      );
  }

  private settle(through: number): void {
    const done = this.waiters.filter((w) => w.seq <= through);
    this.waiters = this.waiters.filter((w) => w.seq > through);
    for (const waiter of done) waiter.resolve();
  }

  private fail(error: Error): void {
    this.lastWriteError = error.message;
    if (!this.diskFull) {
      this.options.logger.error(
        { err: error, held: this.queue.length, maxHeld: this.maxHeld },
        'journal write failed; records are held in memory and written when the disk takes them',
      );
      this.diskFull = true;
      while (this.queue.length > this.maxHeld) this.dropOldest();
      this.storageChanged();
      this.diskCheckedAt = Number.NEGATIVE_INFINITY;
      this.checkDisk();
    } else {
      this.options.logger.debug(
        { code: (error as NodeJS.ErrnoException).code, held: this.queue.length, retryMs: this.retryMs },
        'journal write failed again',
      );
    }
    // Every waiter left is for a record not yet durable: each is told, and may wait again.
    const failed = this.waiters;
    this.waiters = [];
    for (const waiter of failed) waiter.reject(error);
  }

  /** The disk took a write again: what was held is going out, and the alarm can clear. */
  private recovered(): void {
    this.diskFull = false;
    this.lastWriteError = undefined;
    this.diskCheckedAt = Number.NEGATIVE_INFINITY;
    this.options.logger.warn(
      { held: this.queue.length, lost: this.lost },
      'journal writes again; held records follow in order',
    );
    this.storageChanged();
  }

  /** Waits before the next try: longer each time, up to a few seconds, or until an ack frees space. */
  private async retryPause(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.retryMs);
      this.wakeRetry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeRetry = undefined;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private storageChanged(): void {
    try {
      this.options.onStorageChange?.();
    } catch (error) {
      this.options.logger.error({ err: error }, 'storage change listener failed');
    }
  }

  /** At most every few seconds and at each new segment: journaled bytes against the budget, and free space. */
  private checkDisk(): void {
    const now = performance.now();
    if (now - this.diskCheckedAt < DISK_CHECK_MS) return;
    this.diskCheckedAt = now;
    statfs(this.options.dir)
      .then((fs) => {
        const freeBytes = fs.bavail * fs.bsize;
        this.freeBytes = freeBytes;
        const used = this.stats().bytes;
        const low = used > 0.8 * this.budgetBytes || freeBytes < this.minFreeBytes;
        if (low && !this.diskLow && !this.closed) {
          this.options.logger.warn(
            { used, freeBytes, budgetBytes: this.budgetBytes },
            'journal disk space low',
          );
          this.append({
            type: 'journal.disk-low',
            at: this.now().toISOString(),
            clock: 'unsynced',
            data: { freeBytes, budgetBytes: this.budgetBytes },
          });
        }
        const changed = low !== this.diskLow;
        this.diskLow = low;
        if (changed) this.storageChanged();
      })
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not check free disk space'));
  }
}

/** Whether `work` settled before the deadline (a `performance.now()` time). */
async function withDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The tip of a journal read without opening it: no recovery, nothing written, so it is safe while a
 * gateway is running on it (a record being written is simply not counted yet).
 */
export function inspectJournal(dir: string): { lastSeq: number; lastHash: string } {
  let tip: ChainPoint = GENESIS;
  for (const segment of listSegments(dir)) {
    const last = lastRecordOf(segment.path);
    if (last) tip = { seq: last.seq, hash: last.hash };
  }
  return { lastSeq: tip.seq, lastHash: tip.hash };
}

async function readRange(path: string, start: number, end: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const bytes = Buffer.allocUnsafe(end - start);
    const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
    return bytes.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The journal's cursor, read without changing anything; the genesis point when there is none yet,
 * or when it is damaged (the gateway rebuilds it at its next start).
 */
export async function readCursor(dir: string): Promise<JournalCursor> {
  const { cursor } = await readCursorFile(dir);
  return cursor ?? { acked: GENESIS, base: GENESIS };
}
