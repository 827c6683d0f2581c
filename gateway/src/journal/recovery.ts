import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { type EventRecord, GENESIS_HASH, type JournalLossCause, parseWith } from '@educard/terminal-sdk';
import { z } from 'zod';
import type { Logger } from '../log/index.js';
import {
  DurableJsonFile,
  fsyncDirectory,
  quarantineFile,
  quarantineTarget,
  writeFileDurable,
} from '../storage/index.js';
import { BreaksFileStore, type JournalBreak } from './breaks.js';
import { HEADER_BYTES } from './frame.js';
import {
  lastRecordOf,
  listSegments,
  type Piece,
  type Segment,
  segmentName,
  splitSegment,
} from './segments.js';

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

export const GENESIS: ChainPoint = { seq: 0, hash: GENESIS_HASH };
export const CURSOR = 'cursor.json';
const HEAD = 'head.json';
const UNSAVED = 'unsaved.json';
const SALVAGE = '.salvage';
/**
 * No record frames in fewer bytes (a header and the smallest record, with its two hashes): what an
 * unreadable file could have held is at most its size over this.
 */
export const MIN_FRAME_BYTES = 128;

const Point = z.object({ seq: z.number().int().nonnegative(), hash: z.string().regex(/^[0-9a-f]{64}$/) });
const CursorSchema = z.object({ acked: Point, base: Point });
/** Where the newest segment began and how large segments were then: a newest segment gone is noticed. */
const Head = z.object({ segment: z.number().int().positive(), segmentBytes: z.number().int().positive() });
type Head = z.infer<typeof Head>;
/** What a stop with the disk full could not write: journaled at the next start. */
export const Unsaved = z.object({
  records: z.number().int().positive(),
  firstSeq: z.number().int().positive(),
  lastSeq: z.number().int().positive(),
  lost: z.number().int().nonnegative(),
  at: z.string(),
});
export type Unsaved = z.infer<typeof Unsaved>;

/** The journal's cursor file, read without changing anything; a damaged one is reported, not thrown. */
export async function readCursorFile(dir: string): Promise<{ cursor?: JournalCursor; problem?: string }> {
  let text: string;
  try {
    text = await readFile(join(dir, CURSOR), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { problem: `could not be read: ${(error as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { problem: `not JSON: ${(error as Error).message}` };
  }
  const parsed = parseWith(CursorSchema, value);
  return parsed.ok ? { cursor: parsed.value } : { problem: `not a cursor: ${parsed.error}` };
}

export const headFile = (dir: string) =>
  new DurableJsonFile<Head>(join(dir, HEAD), (value) => Head.safeParse(value).success);

/** Records `segment` as the newest segment begun. */
export function writeHead(dir: string, segment: number, segmentBytes: number): Promise<void> {
  return headFile(dir).write({ segment, segmentBytes });
}

export const unsavedPath = (dir: string) => join(dir, UNSAVED);

export interface Recovered {
  segments: Segment[];
  cursor: JournalCursor;
  breaks: JournalBreak[];
  /** The point new records go on from: the last number used, and the hash the next record links to. */
  next: ChainPoint;
  /** Bytes of a torn tail cut off the newest segment. */
  recoveredBytes: number;
  /** Files moved to quarantine in this recovery. */
  quarantined: string[];
  /** Problems with the journal's small files, each rebuilt (the cursor) or started afresh. */
  notes: string[];
}

interface FileScan {
  segment: Segment;
  /** Whole, as named, and with nothing to cut but a torn tail. */
  whole: boolean;
  pieces: Piece[];
  reason?: string;
  cause?: JournalLossCause;
  /** Past the last piece: records an unreadable file could have held, at most. */
  bound?: number;
  tornTail?: { offset: number; bytes: number; reason: string };
  /** Set once quarantined: its name there, relative to the journal. */
  quarantinedAs?: string;
}

interface Found {
  file: FileScan;
  piece: Piece;
}

/**
 * Brings a journal directory to a state the journal can append to, whatever happened to it: a torn
 * tail of the newest segment is cut off; a segment damaged in the middle, unreadable, or missing
 * never stops the start. Whatever can be read before and after damage is kept (rewritten into
 * segments of its own), the damaged file is moved to `quarantine/`, and every range of records lost
 * becomes a break: written to `breaks.json` before anything is moved, and explained by a
 * `journal.damaged` record the journal appends. Numbering goes on after the highest number that may
 * have been used, so no number is used twice.
 *
 * Frames (length and CRC), numbering, and the links where runs of records meet are checked; the hash
 * of every record is not (that is for the bridge and `educard journal verify`), to keep a start quick.
 */
export async function recoverJournal(options: {
  dir: string;
  logger: Logger;
  segmentBytes: number;
  now: () => Date;
}): Promise<Recovered> {
  const { dir, logger, now } = options;
  await mkdir(dir, { recursive: true });
  const notes: string[] = [];
  const quarantined: string[] = [];
  const cursorRead = await readCursorFile(dir);
  if (cursorRead.problem) {
    const moved = await quarantineFile(join(dir, CURSOR), `cursor.json ${cursorRead.problem}`, now());
    quarantined.push(relative(dir, moved));
    notes.push(`cursor.json ${cursorRead.problem}: rebuilt from the oldest segment kept`);
  }
  const breaksStore = new BreaksFileStore(dir);
  const held = await breaksStore.read();
  if (held.damaged) notes.push(`breaks.json ${held.damaged}: started afresh`);
  const head = headFile(dir);
  const headValue = await head.read();
  if (head.damaged) notes.push(`head.json ${head.damaged.reason}: the newest segment's start is not known`);
  await finishSalvage(dir, logger);

  const scans: FileScan[] = [];
  const listed = listSegments(dir);
  for (const [i, segment] of listed.entries()) {
    scans.push(await scanFile(segment, i === listed.length - 1, listed[i + 1], options.segmentBytes));
  }
  const found = await orderPieces(scans);
  // No cursor file: nothing was ever acknowledged. A damaged one: whatever was deleted had been.
  const cursor =
    cursorRead.cursor ?? (cursorRead.problem ? rebuiltCursor(found) : { acked: GENESIS, base: GENESIS });
  const at = now().toISOString();
  for (const scan of scans.filter((s) => !s.whole)) {
    scan.quarantinedAs = relative(dir, await quarantineTarget(scan.segment.path, now()));
  }
  const breaks = [...held.breaks];
  const explained = (first: number, last: number) =>
    breaks.some((b) => b.firstSeq !== undefined && b.firstSeq <= first && (b.lastSeq as number) >= last);
  const fresh: JournalBreak[] = [];
  const addGap = (first: number, last: number, resumeHash: string, bound: boolean) => {
    if (last < first || explained(first, last)) return;
    const file = blame(scans, last);
    const cause = file?.cause ?? 'missing';
    const where = file?.quarantinedAs ?? file?.segment.path;
    const range = `records ${first} to ${last}${bound ? ' (at most)' : ''}`;
    fresh.push({
      cause,
      firstSeq: first,
      lastSeq: last,
      ...(bound ? { bound } : {}),
      resumeHash,
      records: last - first + 1,
      ...(file ? { file: basename(where as string) } : {}),
      reason:
        cause === 'missing'
          ? `${range} are missing from the journal: no segment holds them`
          : `${range} lost: ${basename(file?.segment.path as string)} ${file?.reason}`,
      at,
    });
  };

  // Before the oldest record kept: only the cursor's base says where the journal should start.
  const first = found[0]?.piece.first;
  if (first && first.seq > cursor.base.seq + 1) addGap(cursor.base.seq + 1, first.seq - 1, first.prev, false);
  for (let i = 1; i < found.length; i++) {
    const before = (found[i - 1] as Found).piece.last;
    const after = (found[i] as Found).piece.first;
    addGap(before.seq + 1, after.seq - 1, after.prev, false);
  }
  // After the newest record kept: the highest number that may have been used goes on.
  const tip = found.at(-1)?.piece.last;
  const tipPoint = tip ? { seq: tip.seq, hash: tip.hash } : cursor.base;
  const bounds = [
    ...scans.map((s) => s.bound ?? 0),
    headBound(headValue, scans),
    ...breaks.map((b) => b.lastSeq ?? 0),
  ];
  const boundLast = Math.max(0, ...bounds);
  const last = Math.max(tipPoint.seq, cursor.acked.seq, boundLast);
  const resumeHash = cursor.acked.seq > tipPoint.seq ? cursor.acked.hash : tipPoint.hash;
  addGap(tipPoint.seq + 1, last, resumeHash, boundLast > cursor.acked.seq && boundLast === last);
  // A damaged file that lost no number (bytes of no record) is still told.
  for (const scan of scans.filter((s) => !s.whole && s.reason)) {
    const lostAny = fresh.some((b) => blame(scans, b.lastSeq as number) === scan);
    if (!lostAny && scan.cause === 'corrupt' && scan.pieces.length > 0) {
      fresh.push({
        cause: 'corrupt',
        records: 0,
        file: basename(scan.segment.path),
        reason: `${basename(scan.segment.path)} ${scan.reason}; no record was lost`,
        at,
      });
    }
  }
  const unsaved = await readUnsaved(dir, notes);
  if (unsaved) {
    fresh.push({
      cause: 'unsaved-at-stop',
      records: unsaved.records + unsaved.lost,
      reason: `at the stop of ${unsaved.at} the disk was full: ${unsaved.records} record(s) held in memory (numbers ${unsaved.firstSeq} to ${unsaved.lastSeq}, used again since) were never written${unsaved.lost ? `, and ${unsaved.lost} had been dropped before` : ''}`,
      at,
    });
  }
  breaks.push(...fresh);
  // On disk before any file moves: numbering must never go back to a point a crash forgot. A disk
  // that takes no writes (full, failing) does not stop the start: the damaged files stay where they
  // are, out of the journal for this run, and the next start sets them aside.
  const setAside = await (fresh.length > 0 ? breaksStore.write(breaks, () => true) : Promise.resolve()).then(
    () => true,
    (error: unknown) => {
      logger.error(
        { err: (error as Error).message },
        'journal damage found but not set aside: the disk takes no writes; the next start does it',
      );
      notes.push(`damage not set aside (${(error as Error).message}): the next start does it`);
      return false;
    },
  );

  const segments: Segment[] = [];
  let recoveredBytes = 0;
  for (const scan of scans) {
    if (scan.whole) {
      const piece = scan.pieces[0];
      if (scan.tornTail) recoveredBytes = await cutTornTail(scan, logger);
      segments.push({
        ...scan.segment,
        bytes: piece?.end ?? 0,
        lastSeq: piece ? piece.last.seq : scan.segment.firstSeq - 1,
      });
      continue;
    }
    if (!setAside) continue;
    try {
      segments.push(...(await salvage(dir, scan, now, logger)));
      quarantined.push(scan.quarantinedAs as string);
    } catch (error) {
      logger.error(
        { segment: scan.segment.path, err: (error as Error).message },
        'journal segment not set aside: what it holds could not be written apart; the next start tries again',
      );
      notes.push(
        `${basename(scan.segment.path)} not set aside (${(error as Error).message}): the next start does it`,
      );
    }
  }
  if (unsaved) await rm(unsavedPath(dir), { force: true });
  for (const b of fresh) {
    logger.error(
      { cause: b.cause, firstSeq: b.firstSeq, lastSeq: b.lastSeq, records: b.records, file: b.file },
      `journal damage: ${b.reason}`,
    );
  }
  if (!cursorRead.cursor && cursorRead.problem) {
    await writeFileDurable(join(dir, CURSOR), JSON.stringify(cursor)).catch((error: unknown) =>
      notes.push(`the rebuilt cursor.json is not written yet (${(error as Error).message})`),
    );
  }
  return {
    segments: segments.sort((a, b) => a.firstSeq - b.firstSeq),
    cursor,
    breaks,
    next: { seq: last, hash: last > tipPoint.seq ? resumeHash : tipPoint.hash },
    recoveredBytes,
    quarantined,
    notes,
  };
}

/** Reads and splits one segment file; an unreadable one has no pieces, and a bound on what it held. */
async function scanFile(
  segment: Segment,
  newest: boolean,
  next: Segment | undefined,
  segmentBytes: number,
): Promise<FileScan> {
  let bytes: Buffer;
  try {
    bytes = await readFile(segment.path);
  } catch (error) {
    const size = await stat(segment.path).then(
      (s) => s.size,
      () => segmentBytes,
    );
    const held = Math.ceil(Math.max(size, HEADER_BYTES) / MIN_FRAME_BYTES);
    return {
      segment,
      whole: false,
      pieces: [],
      cause: 'unreadable',
      reason: `could not be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      bound: next ? next.firstSeq - 1 : segment.firstSeq + held - 1,
    };
  }
  const split = splitSegment(bytes, newest);
  const [piece] = split.pieces;
  const asNamed = split.pieces.length === 0 || (piece?.start === 0 && piece.first.seq === segment.firstSeq);
  const whole = split.damage.length === 0 && split.pieces.length <= 1 && asNamed;
  const firstDamage = split.damage[0];
  return {
    segment,
    whole,
    pieces: split.pieces,
    ...(split.tornTail ? { tornTail: split.tornTail } : {}),
    ...(whole
      ? {}
      : {
          cause: 'corrupt' as const,
          reason: firstDamage
            ? `is damaged at byte ${firstDamage.offset} (${firstDamage.reason})${split.damage.length > 1 ? ` and in ${split.damage.length - 1} more place(s)` : ''}`
            : `holds records from ${piece?.first.seq}, its name says ${segment.firstSeq}`,
        }),
  };
}

/**
 * Every piece in numbering order. A piece that repeats numbers already held is dropped, and one whose
 * first record does not link to the record before it loses that record: either way its file is
 * rewritten without it, and the numbers not kept become a break.
 */
async function orderPieces(scans: FileScan[]): Promise<Found[]> {
  const all = scans
    .flatMap((file) => file.pieces.map((piece) => ({ file, piece })))
    .sort((a, b) => a.piece.first.seq - b.piece.first.seq);
  const kept: Found[] = [];
  for (const found of all) {
    const before = kept.at(-1)?.piece.last;
    const { file, piece } = found;
    const mark = (reason: string) => {
      file.whole = false;
      file.cause ??= 'corrupt';
      file.reason ??= reason;
      file.pieces = file.pieces.filter((p) => p !== piece);
    };
    if (before && piece.first.seq <= before.seq) {
      mark(`repeats records ${piece.first.seq} to ${Math.min(piece.last.seq, before.seq)} held elsewhere`);
      continue;
    }
    if (before && piece.first.seq === before.seq + 1 && piece.first.prev !== before.hash) {
      mark(`record ${piece.first.seq} does not link to record ${before.seq}`);
      if (piece.frames > 1) {
        const trimmed = withoutFirst(piece, await readFile(file.segment.path));
        file.pieces.push(trimmed);
        kept.push({ file, piece: trimmed });
      }
      continue;
    }
    kept.push(found);
  }
  return kept;
}

/** With no cursor (lost, or damaged): everything before the oldest segment kept was acknowledged. */
function rebuiltCursor(found: Found[]): JournalCursor {
  const first = found[0]?.piece.first;
  const point = first ? { seq: first.seq - 1, hash: first.prev } : GENESIS;
  return { acked: point, base: point };
}

/** The file a lost range is blamed on: the one whose numbers it falls in. */
function blame(scans: FileScan[], seq: number): FileScan | undefined {
  return scans.findLast((s) => s.segment.firstSeq <= seq);
}

/** The highest number a newest segment gone from the directory could have used. */
function headBound(head: Head | null, scans: FileScan[]): number {
  if (!head || scans.some((s) => s.segment.firstSeq >= head.segment)) return 0;
  return head.segment + Math.ceil(head.segmentBytes / MIN_FRAME_BYTES) - 1;
}

async function readUnsaved(dir: string, notes: string[]): Promise<Unsaved | undefined> {
  const text = await readFile(unsavedPath(dir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    return Unsaved.parse(JSON.parse(text));
  } catch (error) {
    notes.push(`unsaved.json is not readable (${(error as Error).message}): its count is lost`);
    return undefined;
  }
}

async function cutTornTail(scan: FileScan, logger: Logger): Promise<number> {
  const torn = scan.tornTail as NonNullable<FileScan['tornTail']>;
  const handle = await open(scan.segment.path, 'r+');
  try {
    await handle.truncate(torn.offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
  logger.warn(
    { segment: scan.segment.path, offset: torn.offset, droppedBytes: torn.bytes, reason: torn.reason },
    'journal torn tail truncated',
  );
  return torn.bytes;
}

/**
 * Rewrites what a damaged file still holds into segments of their own (named by their first record),
 * then moves the file to quarantine: first the new segments, fsynced under a temporary name, then the
 * move, then the renames, so a crash at any point leaves either the damaged file or its pieces.
 */
async function salvage(dir: string, scan: FileScan, now: () => Date, logger: Logger): Promise<Segment[]> {
  const bytes = scan.pieces.length ? await readFile(scan.segment.path) : Buffer.alloc(0);
  const written: { temp: string; segment: Segment }[] = [];
  try {
    for (const piece of scan.pieces) {
      const path = join(dir, segmentName(piece.first.seq));
      const temp = `${path}${SALVAGE}`;
      written.push({
        temp,
        segment: { path, firstSeq: piece.first.seq, lastSeq: piece.last.seq, bytes: piece.end - piece.start },
      });
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(bytes.subarray(piece.start, piece.end));
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  } catch (error) {
    // The damaged file stays as it was; the pieces begun go.
    for (const { temp } of written) await rm(temp, { force: true });
    throw error;
  }
  const reason = `${basename(scan.segment.path)} ${scan.reason}`;
  await quarantineFile(scan.segment.path, reason, now(), join(dir, scan.quarantinedAs as string));
  for (const { temp, segment } of written) await rename(temp, segment.path);
  await fsyncDirectory(dir);
  logger.warn(
    {
      segment: basename(scan.segment.path),
      quarantinedAs: scan.quarantinedAs,
      kept: written.map((w) => [w.segment.firstSeq, w.segment.lastSeq]),
    },
    'journal segment quarantined; what could be read is kept',
  );
  return written.map((w) => w.segment);
}

/** A piece without its first frame, when that record did not link to the one before. */
function withoutFirst(piece: Piece, bytes: Buffer): Piece {
  const start = piece.start + HEADER_BYTES + bytes.readUInt32LE(piece.start);
  const length = bytes.readUInt32LE(start);
  const first = JSON.parse(
    bytes.subarray(start + HEADER_BYTES, start + HEADER_BYTES + length).toString('utf8'),
  ) as EventRecord;
  return { start, end: piece.end, frames: piece.frames - 1, first, last: piece.last };
}

/** Salvaged segments a crash left under their temporary name: kept if their file is gone, else made again. */
async function finishSalvage(dir: string, logger: Logger): Promise<void> {
  const names = await readdir(dir);
  const temps = names.filter((name) => name.endsWith(SALVAGE));
  for (const temp of temps) {
    const target = temp.slice(0, -SALVAGE.length);
    if (names.includes(target)) await rm(join(dir, temp), { force: true });
    else await rename(join(dir, temp), join(dir, target));
  }
  if (temps.length) {
    await fsyncDirectory(dir);
    logger.warn({ files: temps }, 'journal salvage cut short by a crash: finished');
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

/**
 * The journal's cursor, read without changing anything; the genesis point when there is none yet,
 * or when it is damaged (the gateway rebuilds it at its next start).
 */
export async function readCursor(dir: string): Promise<JournalCursor> {
  const { cursor } = await readCursorFile(dir);
  return cursor ?? { acked: GENESIS, base: GENESIS };
}
