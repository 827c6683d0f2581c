import { type FileHandle, open, rm } from 'node:fs/promises';
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
import { fsyncDirectory, writeFileDurable } from '../storage/index.js';
import { BreaksFileStore, breakBefore, damagedData, type JournalBreak, noteDropped } from './breaks.js';
import { type ChainVerdict, verifySegments } from './chain-check.js';
import { DiskWatch } from './disk.js';
import { encodeFrame } from './frame.js';
import { FrameIndexes } from './frame-index.js';
import { type Held, HeldRecords } from './held.js';
import { CURSOR, type JournalCursor, recoverJournal, type Unsaved, writeHead } from './recovery.js';
import { recordsOf, type Segment, segmentName } from './segments.js';
import type { JournalOptions, JournalStats } from './types.js';
import { saveUnsaved, withDeadline } from './unsaved.js';

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
  private readonly held = new HeldRecords();
  private committing: Promise<void> | undefined;
  private commits = 0;
  private lastSeq: number;
  private lastHash: string;
  private durableSeq: number;
  private cursor: JournalCursor;
  private oldestUnackedAt: string | undefined;
  private diskFull = false;
  private lastWriteError: string | undefined;
  private retryMs = 50;
  private headPending: number | undefined;
  private damagedNow: string | undefined;
  private wakeRetry: (() => void) | undefined;
  private closed = false;
  /** Set when the close begins: acks taken before it are finished (the close waits for them), later ones are not. */
  private closing = false;
  private breaks: JournalBreak[];
  private breaksWriting: Promise<void> = Promise.resolve();
  /** Where each frame of a segment starts, filled as far as reads have needed: reads seek, never rescan. */
  private readonly frames = new FrameIndexes();
  private acking: Promise<void> = Promise.resolve();
  private ackQueued: Promise<void> | undefined;
  private ackWanted = 0;
  private readonly segmentBytes: number;
  private readonly budgetBytes: number;
  private readonly disk: DiskWatch;
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
    this.maxHeld = options.maxHeldRecords ?? 50_000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 3_000;
    this.now = options.now ?? (() => new Date());
    this.breaksFile = new BreaksFileStore(options.dir);
    this.disk = new DiskWatch({
      dir: options.dir,
      logger: options.logger,
      budgetBytes: this.budgetBytes,
      minFreeBytes: options.minFreeBytes ?? 64 * 1024 * 1024,
      usedBytes: () => this.segments.reduce((sum, s) => sum + s.bytes, 0),
      onLow: (freeBytes, used) => this.diskLow(freeBytes, used),
      onChange: () => this.storageChanged(),
    });
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
    this.held.push({ frame: encodeFrame(canonicalBytes(record)), seq: record.seq, prev: record.prev });
    this.lastSeq = record.seq;
    this.lastHash = record.hash;
    if (this.oldestUnackedAt === undefined) this.oldestUnackedAt = record.at;
    // Bounded while the disk takes no writes; a disk that writes, only behind a burst, drains it.
    if (this.diskFull && this.held.length > this.maxHeld) this.dropOldest();
    this.scheduleCommit();
    return record;
  }

  /** Resolves once the record `seq` (by default the last appended) is on disk and fsynced. */
  durable(seq = this.lastSeq): Promise<void> {
    if (seq <= this.durableSeq) return Promise.resolve();
    return this.held.waitFor(seq);
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
      let expected = seq;
      for (const { record } of recordsOf(await this.frames.range(segment, seq, upTo))) {
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
   * Records that the bridge has committed everything up to `seq`, durably, and deletes the segments
   * it wholly covers: never the newest, so the chain's tip survives a restart. Space freed wakes a
   * write waiting for it. Once closed it writes nothing: an ack arriving then (the uplink's last
   * message, handled while the gateway stops) is heard again after the next start, and what it
   * would have freed is resent once and deduplicated by the bridge.
   */
  acknowledge(seq: number): Promise<void> {
    if (this.closing) return Promise.resolve();
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
        this.frames.forget(segment);
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
      diskLow: this.disk.low,
      diskFull: this.diskFull,
      freeBytes: this.disk.freeBytes,
      lastWriteError: this.lastWriteError,
      held: this.held.length,
      maxHeld: this.maxHeld,
      lost: this.held.lost,
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
  async verify(): Promise<ChainVerdict> {
    await this.flush();
    const start = this.cursor.base.seq > 0 || this.segments[0]?.firstSeq === 1 ? this.cursor.base : undefined;
    return verifySegments(this.segments, start);
  }

  /**
   * Waits for what is held to reach the disk, at most `closeTimeoutMs`; what it could not make
   * durable is logged and written to `unsaved.json` (or, when even that cannot be written, printed),
   * so that the next start journals the loss.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    const deadline = performance.now() + this.closeTimeoutMs;
    const flushed = await this.heldWritten(deadline);
    await withDeadline(this.acking, deadline);
    await withDeadline(this.breaksWriting, deadline);
    this.closed = true;
    this.wakeRetry?.();
    if (!flushed && this.held.length > 0) await this.reportUnsaved(deadline);
    if (this.held.writing === 0) await this.active?.close().catch(() => undefined);
    this.active = undefined;
  }

  /** Whether everything held reached the disk before the deadline (each failed try is waited past). */
  private async heldWritten(deadline: number): Promise<boolean> {
    while (this.held.length > 0) {
      const newest = (this.held.records.at(-1) as Held).seq;
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
      records: this.held.length,
      firstSeq: (this.held.records[0] as Held).seq,
      lastSeq: (this.held.records.at(-1) as Held).seq,
      lost: this.held.lost,
      at: this.now().toISOString(),
    };
    this.options.logger.error(
      { ...unsaved, error: this.lastWriteError },
      'journal closed with records it could not make durable',
    );
    await saveUnsaved(this.options.dir, unsaved, deadline);
  }

  private scheduleCommit(): void {
    if (this.committing || this.closed) return;
    this.committing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.commitLoop())
      .finally(() => {
        this.committing = undefined;
        if (this.held.length) this.scheduleCommit();
      });
  }

  private async commitLoop(): Promise<void> {
    while (this.held.length && !this.closed) {
      let through: number;
      let commit: { records: number; started: number } | undefined;
      try {
        const bytes = await this.takeBatch();
        through = (this.held.records[this.held.writing - 1] as Held).seq;
        commit = { records: this.held.writing, started: performance.now() };
        await this.writeDurably(bytes, through);
        this.timed(commit, true);
      } catch (error) {
        if (commit) this.timed(commit, false);
        this.fail(error as Error);
        await this.retryPause();
        continue;
      }
      this.held.written();
      this.retryMs = 50;
      this.durableSeq = through;
      this.commits += 1;
      this.held.settle(through);
      if (this.diskFull) this.recovered();
      for (const b of this.breaks.filter((b) => b.damagedSeq === undefined && (b.lastSeq ?? 0) < through))
        this.explain(b);
      this.disk.check();
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
      const first = this.held.records[0] as Held;
      if (this.headPending !== undefined) await this.writeHeadNow(this.headPending);
      let segment = this.segments.at(-1);
      if (!segment || first.seq !== segment.lastSeq + 1) {
        if (segment && first.seq > segment.lastSeq + 1) await this.noteDropped(segment.lastSeq + 1, first);
        await this.startSegment(first.seq);
      } else if (segment.bytes > 0 && segment.bytes + first.frame.length > this.segmentBytes) {
        await this.startSegment(first.seq);
      }
      // Dropped while the segment was begun: begin again from the oldest record still held.
      if (this.held.records[0] !== first) continue;
      segment = this.segments.at(-1) as Segment;
      let size = segment.bytes;
      let count = 0;
      for (const item of this.held.records) {
        if (count > 0 && size + item.frame.length > this.segmentBytes) break;
        size += item.frame.length;
        count += 1;
      }
      this.held.writing = count;
      return Buffer.concat(this.held.records.slice(0, count).map((h) => h.frame));
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
    this.disk.soon();
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
    const dropped = this.held.dropOldest();
    if (this.held.lost > 1) return;
    this.options.logger.error(
      { maxHeld: this.maxHeld, seq: dropped.seq },
      'journal memory bound reached: the oldest records held are dropped, and counted, until the disk takes writes again',
    );
    this.storageChanged();
  }

  /**
   * Records `firstLost`..`next.seq - 1` were dropped while the disk was full: the break goes on record
   * (breaks.json, before the segment that resumes after it is begun) and its `journal.damaged` record
   * is appended once that segment is written.
   */
  private async noteDropped(firstLost: number, next: Held): Promise<void> {
    if (!noteDropped(this.breaks, { firstLost, next, maxHeld: this.maxHeld, at: this.now().toISOString() }))
      return;
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

  private fail(error: Error): void {
    this.lastWriteError = error.message;
    if (!this.diskFull) {
      this.options.logger.error(
        { err: error, held: this.held.length, maxHeld: this.maxHeld },
        'journal write failed; records are held in memory and written when the disk takes them',
      );
      this.diskFull = true;
      while (this.held.length > this.maxHeld) this.dropOldest();
      this.storageChanged();
      this.disk.soon();
      this.disk.check();
    } else {
      this.options.logger.debug(
        { code: (error as NodeJS.ErrnoException).code, held: this.held.length, retryMs: this.retryMs },
        'journal write failed again',
      );
    }
    // Every waiter left is for a record not yet durable: each is told, and may wait again.
    this.held.writeFailed(error);
  }

  /** The disk took a write again: what was held is going out, and the alarm can clear. */
  private recovered(): void {
    this.diskFull = false;
    this.lastWriteError = undefined;
    this.disk.soon();
    this.options.logger.warn(
      { held: this.held.length, lost: this.held.lost },
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

  /** The disk just ran low: logged, and journaled while the journal is open. */
  private diskLow(freeBytes: number, used: number): void {
    if (this.closed) return;
    this.options.logger.warn({ used, freeBytes, budgetBytes: this.budgetBytes }, 'journal disk space low');
    this.append({
      type: 'journal.disk-low',
      at: this.now().toISOString(),
      clock: 'unsynced',
      data: { freeBytes, budgetBytes: this.budgetBytes },
    });
  }

  private storageChanged(): void {
    try {
      this.options.onStorageChange?.();
    } catch (error) {
      this.options.logger.error({ err: error }, 'storage change listener failed');
    }
  }
}
