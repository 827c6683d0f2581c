import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { type EventRecord, JournalDamagedData } from '@educard/terminal-sdk';
import { type ChainProblem, ChainWalker } from './chain-check.js';
import { HEADER_BYTES, scanFrame } from './frame.js';
import { type ChainPoint, type JournalCursor, readCursorFile } from './recovery.js';
import { lastRecordOf, listSegments, parseRecord, recordsOf, resync, type Segment } from './segments.js';

/** One record as the journal holds it: parsed, and its bytes on disk (the record's canonical JSON). */
export interface StoredRecord {
  record: EventRecord;
  bytes: Buffer;
  segment: string;
  offset: number;
}

/** A partial or bad frame at the end of the newest segment, with nothing whole after it. */
export interface TornTail {
  segment: string;
  offset: number;
  bytes: number;
  reason: string;
}

/** A bad frame with whole ones after it, or in an older segment: history damaged at rest. */
export class JournalDamaged extends Error {
  constructor(
    readonly segment: string,
    readonly offset: number,
    /** The sequence number the damaged record should carry. */
    readonly seq: number,
    readonly reason: string,
  ) {
    super(`record ${seq} in ${basename(segment)} at byte ${offset} is damaged (${reason})`);
    this.name = 'JournalDamaged';
  }
}

/** What {@link JournalReader.check} found. */
export interface JournalCheck {
  ok: boolean;
  segments: number;
  bytes: number;
  /** Records checked: those after the cursor's base. */
  records: number;
  firstSeq: number | undefined;
  lastSeq: number;
  ackedSeq: number;
  baseSeq: number;
  tornTail?: TornTail;
  problem?: { seq: number; problem: string; segment?: string; offset?: number };
  /** Losses the journal explains with a `journal.damaged` record: not tampering, but told. */
  losses: (JournalDamagedData & { seq: number })[];
  notes: string[];
}

interface SegmentRead {
  records: StoredRecord[];
  torn?: TornTail;
}

const CHAIN_PROBLEMS: Record<ChainProblem, string> = {
  hash: 'its hash does not match its contents: it was altered after it was written',
  prev: 'it does not link to the record before it (prev differs from that record’s hash)',
  seq: 'its sequence number does not follow the record before it (a gap or a repeat)',
} as const;

/** A segment's bytes, or nothing when it was deleted meanwhile (acknowledged by the bridge). */
function readSegment(path: string, from = 0): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    const bytes = Buffer.allocUnsafe(Math.max(0, size - from));
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, from + read);
      if (n === 0) break;
      read += n;
    }
    return bytes.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** Every whole frame of a segment; a torn tail is allowed only in the newest segment. */
function framesOf(segment: Segment, bytes: Buffer, newest: boolean): SegmentRead {
  const records: StoredRecord[] = [];
  let offset = 0;
  for (;;) {
    const frame = scanFrame(bytes, offset);
    const expected = (records.at(-1)?.record.seq ?? segment.firstSeq - 1) + 1;
    if (frame.kind === 'end') return { records };
    if (frame.kind === 'torn') {
      if (!newest || resync(bytes, offset) !== undefined) {
        const where = newest ? 'whole records follow it' : 'in a segment older than the newest';
        throw new JournalDamaged(segment.path, offset, expected, `${frame.reason}; ${where}`);
      }
      return {
        records,
        torn: { segment: segment.path, offset, bytes: bytes.length - offset, reason: frame.reason },
      };
    }
    let record: EventRecord;
    try {
      record = parseRecord(frame.payload);
    } catch (error) {
      throw new JournalDamaged(segment.path, offset, expected, `not JSON: ${(error as Error).message}`);
    }
    records.push({ record, bytes: frame.payload, segment: segment.path, offset });
    offset = frame.next;
  }
}

/**
 * Reads a journal without changing a byte of it: no recovery, no new segment, no cursor write. Safe
 * beside a running gateway, whose record being written shows as a torn tail and is simply not read.
 * (Journal.open is for the gateway alone: it cuts torn tails off and starts segments.)
 */
export class JournalReader {
  private constructor(
    readonly dir: string,
    readonly cursor: JournalCursor,
    /** What is wrong with cursor.json, when something is: the gateway rebuilds it at its next start. */
    readonly cursorProblem: string | undefined,
  ) {}

  static async open(dir: string): Promise<JournalReader> {
    if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
      throw Object.assign(new Error(`there is no journal at ${dir}`), { code: 'ENOENT' });
    }
    const { cursor, problem } = await readCursorFile(dir);
    const genesis = { seq: 0, hash: '0'.repeat(64) };
    return new JournalReader(dir, cursor ?? { acked: genesis, base: genesis }, problem);
  }

  segments(): Segment[] {
    return listSegments(this.dir);
  }

  /** The whole records from `from` to `to`, in order; a torn tail of the newest segment ends them. */
  *records(from = 1, to = Number.MAX_SAFE_INTEGER): Generator<StoredRecord> {
    const segments = this.segments();
    for (const [i, segment] of segments.entries()) {
      const next = segments[i + 1];
      if (next && next.firstSeq <= from) continue;
      if (segment.firstSeq > to) return;
      const bytes = readSegment(segment.path);
      if (!bytes) continue;
      for (const stored of framesOf(segment, bytes, next === undefined).records) {
        const { seq } = stored.record;
        if (seq > to) return;
        if (seq >= from) yield stored;
      }
    }
  }

  /** The last `count` whole records, oldest first; only the segments needed are read. */
  last(count: number): StoredRecord[] {
    const segments = this.segments();
    let found: StoredRecord[] = [];
    for (let i = segments.length - 1; i >= 0 && found.length < count; i--) {
      const segment = segments[i] as Segment;
      const bytes = readSegment(segment.path);
      if (bytes) found = [...framesOf(segment, bytes, i === segments.length - 1).records, ...found];
    }
    return count > 0 ? found.slice(-count) : [];
  }

  /**
   * The last record's sequence number and hash, found by scanning frames; with no record kept, the
   * cursor's acknowledged point (numbering never restarts).
   */
  tip(): ChainPoint {
    const segments = this.segments();
    for (let i = segments.length - 1; i >= 0; i--) {
      const last = lastRecordOf((segments[i] as Segment).path);
      if (last) return { seq: last.seq, hash: last.hash };
    }
    return this.cursor.acked;
  }

  /**
   * Checks every frame's length and CRC and the hash chain of what is kept, from the cursor's base:
   * consecutive sequence numbers, each `prev` the hash before it, each hash right. A break the
   * journal explains (a `journal.damaged` record naming the lost range and the hash the chain resumes
   * from) is listed as a loss, not a failure; the first other break fails the check. A torn tail of the
   * newest segment is reported, not counted as a break.
   */
  async check(): Promise<JournalCheck> {
    const segments = this.segments();
    const { base, acked } = this.cursor;
    const result: JournalCheck = {
      ok: true,
      segments: segments.length,
      bytes: 0,
      records: 0,
      firstSeq: undefined,
      lastSeq: base.seq,
      ackedSeq: acked.seq,
      baseSeq: base.seq,
      losses: [],
      notes: this.cursorProblem
        ? [`cursor.json ${this.cursorProblem}: the gateway rebuilds it at its next start`]
        : [],
    };
    const fail = (problem: NonNullable<JournalCheck['problem']>): JournalCheck => ({
      ...result,
      ok: false,
      problem,
    });
    const start: ChainPoint | undefined = base.seq > 0 || segments[0]?.firstSeq === 1 ? base : undefined;
    if (!start && segments.length > 0) {
      result.notes.push(
        `no cursor base: record ${segments[0]?.firstSeq} is checked without the one before it`,
      );
    }
    const walker = new ChainWalker<{ segment: string; offset: number }>(start);
    let beforeBase = 0;
    for (const [i, segment] of segments.entries()) {
      const bytes = readSegment(segment.path);
      if (!bytes) {
        // Acknowledged and deleted while we read: the chain goes on from the cursor's new base.
        result.notes.push(
          `${basename(segment.path)} was deleted while checking (acknowledged by the bridge)`,
        );
        continue;
      }
      result.bytes += bytes.length;
      let read: SegmentRead;
      try {
        read = framesOf(segment, bytes, i === segments.length - 1);
      } catch (error) {
        if (!(error instanceof JournalDamaged)) throw error;
        return fail({ seq: error.seq, problem: error.message, segment: error.segment, offset: error.offset });
      }
      const first = read.records[0];
      if (first && first.record.seq !== segment.firstSeq) {
        return fail({
          seq: first.record.seq,
          problem: `${basename(segment.path)} starts at record ${first.record.seq}, its name says ${segment.firstSeq}`,
          segment: segment.path,
          offset: 0,
        });
      }
      for (const { record, segment: path, offset } of read.records) {
        if (base.seq > 0 && record.seq <= base.seq && result.records === 0) {
          // Before the base: acknowledged, its segment's deletion cut short. Only the base itself is checked.
          if (record.seq === base.seq && record.hash !== base.hash) {
            return fail({
              seq: record.seq,
              problem: 'the record differs from the one cursor.json names as the base',
              segment: path,
              offset,
            });
          }
          beforeBase += 1;
          continue;
        }
        if (!walker.add(record, { segment: path, offset })) break;
        if (record.type === 'journal.damaged') {
          const data = JournalDamagedData.safeParse(record.data);
          if (data.success) result.losses.push({ ...data.data, seq: record.seq });
        }
        result.firstSeq ??= record.seq;
        result.lastSeq = record.seq;
        result.records += 1;
      }
      if (read.torn) result.tornTail = read.torn;
    }
    if (beforeBase > 0) {
      result.notes.push(`${beforeBase} acknowledged record(s) before the base await deletion; not checked`);
    }
    const broken = walker.finish();
    if (broken) {
      return fail({
        seq: broken.seq,
        problem: `record ${broken.seq}: ${CHAIN_PROBLEMS[broken.problem]}${broken.problem === 'hash' ? '' : ', and no journal.damaged record explains the break'}`,
        ...broken.where,
      });
    }
    if (acked.seq > result.lastSeq) {
      return fail({
        seq: result.lastSeq + 1,
        problem: `cursor.json says the bridge acknowledged up to ${acked.seq}, but the journal ends at ${result.lastSeq}`,
      });
    }
    return result;
  }
}

/**
 * Follows a journal as a running gateway appends to it, from `nextSeq` on: each poll returns the
 * whole records written since the last, reading only the new bytes of the segment being written.
 */
export class JournalFollower {
  private path: string | undefined;
  private offset = 0;

  constructor(
    private readonly dir: string,
    private nextSeq: number,
  ) {}

  poll(): StoredRecord[] {
    const found: StoredRecord[] = [];
    for (let pass = 0; pass < 1000; pass++) {
      const segments = listSegments(this.dir);
      const segment = segments.findLast((s) => s.firstSeq <= this.nextSeq) ?? segments[0];
      if (!segment) return found;
      if (segment.path !== this.path) {
        this.path = segment.path;
        this.offset = 0;
      }
      const bytes = readSegment(segment.path, this.offset);
      if (!bytes) {
        this.path = undefined;
        continue;
      }
      const before = found.length;
      let consumed = 0;
      for (const { record, next } of recordsOf(bytes)) {
        if (record.seq >= this.nextSeq) {
          found.push({
            record,
            bytes: bytes.subarray(consumed + HEADER_BYTES, next),
            segment: segment.path,
            offset: this.offset + consumed,
          });
          this.nextSeq = record.seq + 1;
        }
        consumed = next;
      }
      this.offset += consumed;
      if (found.length === before) {
        // Records lost between this segment and the next (explained by the journal): go on after them.
        const next = segments.find((s) => s.firstSeq > this.nextSeq - 1 && s.path !== segment.path);
        if (!next || next.firstSeq <= this.nextSeq) return found;
        this.nextSeq = next.firstSeq;
      }
    }
    return found;
  }
}
