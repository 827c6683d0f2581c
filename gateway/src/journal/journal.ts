import { closeSync, fsyncSync, ftruncateSync, openSync } from 'node:fs';
import { type FileHandle, open, readFile, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalBytes,
  clockStampOf,
  type EventBody,
  type EventRecord,
  eventHash,
  GENESIS_HASH,
  SPEC_VERSION,
  verifyChain,
} from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import { fsyncDirectory, writeFileDurable } from '../storage/index.js';
import { encodeFrame, HEADER_BYTES } from './frame.js';
import { listSegments, recordsOf, type Segment, scanSegment, segmentName } from './segments.js';

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
}

export interface ChainPoint {
  seq: number;
  hash: string;
}

export interface JournalCursor {
  /** The highest sequence the bridge has acknowledged, and that record's hash. */
  acked: ChainPoint;
  /** The record just before the oldest one kept: where verification of what is kept starts. */
  base: ChainPoint;
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

const CURSOR = 'cursor.json';
const GENESIS: ChainPoint = { seq: 0, hash: GENESIS_HASH };
const DISK_CHECK_MS = 5_000;
const RETRY_MAX_MS = 5_000;

/**
 * The device's event log: append-only segment files of CRC-framed records, each chained to the one
 * before by its hash, with per-device sequence numbers that only grow. An append returns at once;
 * a group commit writes and fsyncs whatever has queued, so the gate never waits for the disk.
 */
export class Journal {
  private segments: Segment[];
  private active: FileHandle | undefined;
  private queue: { frame: Buffer; seq: number }[] = [];
  private waiters: Waiter[] = [];
  private committing: Promise<void> | undefined;
  private commits = 0;
  private lastSeq: number;
  private lastHash: string;
  private durableSeq: number;
  private cursor: JournalCursor;
  private oldestUnackedAt: string | undefined;
  private diskLow = false;
  private diskCheckedAt = Number.NEGATIVE_INFINITY;
  private retryMs = 50;
  private closed = false;
  /** Where each frame of a segment starts, filled as far as reads have needed: reads seek, never rescan. */
  private readonly frameIndex = new Map<Segment, FrameIndex>();
  private acking: Promise<void> = Promise.resolve();
  private ackQueued: Promise<void> | undefined;
  private ackWanted = 0;
  private readonly segmentBytes: number;
  private readonly budgetBytes: number;
  private readonly minFreeBytes: number;
  private readonly now: () => Date;

  private constructor(
    private readonly options: JournalOptions,
    segments: Segment[],
    cursor: JournalCursor,
    readonly recoveredBytes: number,
  ) {
    this.segments = segments;
    this.cursor = cursor;
    this.lastSeq = 0;
    this.lastHash = GENESIS_HASH;
    this.durableSeq = 0;
    this.segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024;
    this.budgetBytes = options.budgetBytes ?? 512 * 1024 * 1024;
    this.minFreeBytes = options.minFreeBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? (() => new Date());
  }

  static async open(options: JournalOptions): Promise<Journal> {
    const cursor = await readCursor(options.dir);
    const { segments, tip, recoveredBytes } = recover(options.dir, options.logger);
    const journal = new Journal(options, segments, cursor, recoveredBytes);
    // With every segment gone the cursor still knows where the chain stands: numbering never restarts.
    const start = tip ?? (cursor.acked.seq > 0 ? cursor.acked : GENESIS);
    journal.lastSeq = start.seq;
    journal.lastHash = start.hash;
    journal.durableSeq = start.seq;
    if (segments.length === 0) await journal.startSegment(start.seq + 1);
    else journal.active = await open((segments.at(-1) as Segment).path, 'a');
    journal.oldestUnackedAt = (await journal.read(cursor.acked.seq + 1, 1))[0]?.at;
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
    this.queue.push({ frame: encodeFrame(canonicalBytes(record)), seq: record.seq });
    this.lastSeq = record.seq;
    this.lastHash = record.hash;
    if (this.oldestUnackedAt === undefined) this.oldestUnackedAt = record.at;
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

  /** Up to `limit` durable records from `fromSeq` on, in order. */
  async read(fromSeq: number, limit: number): Promise<EventRecord[]> {
    const records: EventRecord[] = [];
    const last = Math.min(this.durableSeq, fromSeq + limit - 1);
    let seq = Math.max(fromSeq, this.segments[0]?.firstSeq ?? 1);
    while (seq <= last) {
      const segment = this.segments.findLast((s) => s.firstSeq <= seq);
      if (!segment || seq > segment.lastSeq) break;
      const upTo = Math.min(last, segment.lastSeq);
      // The index covers at least up to `upTo`; appends made durable meanwhile may take it further.
      const index = await this.indexFrames(segment);
      const start = index.offsets[seq - segment.firstSeq] as number;
      const end = index.offsets[upTo + 1 - segment.firstSeq] ?? index.end;
      for (const { record } of recordsOf(await readRange(segment.path, start, end))) records.push(record);
      seq = upTo + 1;
    }
    return records;
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
   * it wholly covers: never the newest, so the chain's tip survives a restart.
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
    if (!record) throw new RangeError(`record ${seq} is not in the journal`);
    const removable = this.segments.slice(0, -1).filter((s) => s.lastSeq <= seq);
    let base = this.cursor.base;
    const lastRemoved = removable.at(-1);
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
    };
  }

  /** Checks the whole retained chain: sequence, links and hashes, from the last deleted record on. */
  async verify(): Promise<{ ok: true; records: number } | { ok: false; seq: number; problem: string }> {
    await this.flush();
    let start: ChainPoint | undefined =
      this.cursor.base.seq > 0 || this.segments[0]?.firstSeq === 1 ? this.cursor.base : undefined;
    let count = 0;
    for (const segment of this.segments) {
      const records = [...recordsOf(await readFile(segment.path))].map((r) => r.record);
      const broken = verifyChain(records, start);
      if (broken) return { ok: false, seq: broken.seq, problem: broken.problem };
      const last = records.at(-1);
      if (last) start = { seq: last.seq, hash: last.hash };
      count += records.length;
    }
    return { ok: true, records: count };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    // An acknowledgement under way finishes first: its cursor write must not land after the close.
    await this.acking;
    this.closed = true;
    await this.active?.close();
    this.active = undefined;
  }

  private scheduleCommit(): void {
    if (this.committing) return;
    this.committing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.commitLoop())
      .finally(() => {
        this.committing = undefined;
        if (this.queue.length) this.scheduleCommit();
      });
  }

  private async commitLoop(): Promise<void> {
    while (this.queue.length) {
      const batch = await this.takeBatch();
      const through = (batch.at(-1) as { seq: number }).seq;
      const started = performance.now();
      const timed = (ok: boolean) =>
        this.options.onCommit?.({ records: batch.length, seconds: (performance.now() - started) / 1000, ok });
      try {
        await this.writeDurably(Buffer.concat(batch.map((b) => b.frame)), through);
        timed(true);
      } catch (error) {
        timed(false);
        this.queue.unshift(...batch);
        this.fail(error as Error, through);
        await new Promise((resolve) => setTimeout(resolve, this.retryMs));
        this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
        continue;
      }
      this.retryMs = 50;
      this.durableSeq = through;
      this.commits += 1;
      this.settle(through);
      this.checkDisk();
    }
  }

  /** What fits in the active segment, starting a new one when the next record does not. */
  private async takeBatch(): Promise<{ frame: Buffer; seq: number }[]> {
    const first = this.queue[0] as { frame: Buffer; seq: number };
    let segment = this.segments.at(-1) as Segment;
    if (segment.bytes > 0 && segment.bytes + first.frame.length > this.segmentBytes) {
      await this.startSegment(first.seq);
      segment = this.segments.at(-1) as Segment;
    }
    let size = segment.bytes;
    let count = 0;
    for (const item of this.queue) {
      if (count > 0 && size + item.frame.length > this.segmentBytes) break;
      size += item.frame.length;
      count += 1;
    }
    return this.queue.splice(0, count);
  }

  private async writeDurably(bytes: Buffer, lastSeq: number): Promise<void> {
    const segment = this.segments.at(-1) as Segment;
    const handle = this.active as FileHandle;
    try {
      await handle.write(bytes);
      await handle.datasync();
    } catch (error) {
      // A partial write must not stay in front of the retry: cut the segment back to its last whole frame.
      await handle.truncate(segment.bytes).catch(() => undefined);
      throw error;
    }
    segment.bytes += bytes.length;
    segment.lastSeq = lastSeq;
  }

  private async startSegment(firstSeq: number): Promise<void> {
    await this.active?.close();
    const path = join(this.options.dir, segmentName(firstSeq));
    this.active = await open(path, 'a');
    await fsyncDirectory(this.options.dir);
    this.segments.push({ path, firstSeq, lastSeq: firstSeq - 1, bytes: 0 });
    this.diskCheckedAt = Number.NEGATIVE_INFINITY;
  }

  private settle(through: number): void {
    const done = this.waiters.filter((w) => w.seq <= through);
    this.waiters = this.waiters.filter((w) => w.seq > through);
    for (const waiter of done) waiter.resolve();
  }

  private fail(error: Error, through: number): void {
    this.options.logger.error(
      { err: error, through, retryMs: this.retryMs },
      'journal write failed; records kept for retry',
    );
    const failed = this.waiters.filter((w) => w.seq <= through);
    this.waiters = this.waiters.filter((w) => w.seq > through);
    for (const waiter of failed) waiter.reject(error);
  }

  /** At most every few seconds and at each new segment: journaled bytes against the budget, and free space. */
  private checkDisk(): void {
    const now = performance.now();
    if (now - this.diskCheckedAt < DISK_CHECK_MS) return;
    this.diskCheckedAt = now;
    statfs(this.options.dir)
      .then((fs) => {
        const freeBytes = fs.bavail * fs.bsize;
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
        this.diskLow = low;
      })
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not check free disk space'));
  }
}

/**
 * The tip of a journal read without opening it: no recovery, nothing written, so it is safe while a
 * gateway is running on it (a record being written is simply not counted yet).
 */
export function inspectJournal(dir: string): { lastSeq: number; lastHash: string } {
  let tip: ChainPoint = GENESIS;
  for (const segment of listSegments(dir)) {
    const scan = scanSegment(segment.path);
    if (scan.last) tip = { seq: scan.last.seq, hash: scan.last.hash };
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

/** The journal's cursor, read without changing anything; the genesis point when there is none yet. */
export async function readCursor(dir: string): Promise<JournalCursor> {
  try {
    return JSON.parse(await readFile(join(dir, CURSOR), 'utf8')) as JournalCursor;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { acked: GENESIS, base: GENESIS };
    throw new Error(`journal cursor ${join(dir, CURSOR)} is unreadable: ${(error as Error).message}`);
  }
}

/**
 * Scans every segment: older ones must be whole (their loss would be history the bridge may not
 * have); a torn tail of the newest, from a crash mid-write, is cut off with a log line.
 */
function recover(
  dir: string,
  logger: Logger,
): { segments: Segment[]; tip?: ChainPoint; recoveredBytes: number } {
  const segments = listSegments(dir);
  let tip: ChainPoint | undefined;
  let recoveredBytes = 0;
  segments.forEach((segment, i) => {
    const scan = scanSegment(segment.path);
    const newest = i === segments.length - 1;
    if (scan.torn && (!newest || scan.wholeRecordsFollow)) {
      throw new Error(
        `journal segment ${segment.path} is corrupt at byte ${scan.validBytes} (${scan.torn.reason}), with records after it: this is damage, not a write cut short; keep the file for inspection`,
      );
    }
    if (scan.torn) {
      const fd = openSync(segment.path, 'r+');
      try {
        ftruncateSync(fd, scan.validBytes);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      recoveredBytes = scan.totalBytes - scan.validBytes;
      logger.warn(
        {
          segment: segment.path,
          offset: scan.validBytes,
          droppedBytes: recoveredBytes,
          reason: scan.torn.reason,
        },
        'journal torn tail truncated',
      );
    }
    if (scan.first && scan.first.seq !== segment.firstSeq) {
      throw new Error(
        `journal segment ${segment.path} starts at seq ${scan.first.seq}, its name says ${segment.firstSeq}`,
      );
    }
    if (tip && segment.firstSeq !== tip.seq + 1) {
      throw new Error(`journal segments skip from seq ${tip.seq} to ${segment.firstSeq}`);
    }
    segment.bytes = scan.validBytes;
    segment.lastSeq = segment.firstSeq + scan.frames - 1;
    if (scan.last) tip = { seq: scan.last.seq, hash: scan.last.hash };
  });
  return tip ? { segments, tip, recoveredBytes } : { segments, recoveredBytes };
}
