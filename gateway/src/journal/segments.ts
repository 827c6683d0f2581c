import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { type FrameScan, HEADER_BYTES, scanFrame } from './frame.js';

export interface Segment {
  path: string;
  firstSeq: number;
  /** firstSeq - 1 while the segment is empty. */
  lastSeq: number;
  bytes: number;
}

const NAME = /^seg-(\d{12})\.log$/;

export const segmentName = (firstSeq: number) => `seg-${String(firstSeq).padStart(12, '0')}.log`;

export function listSegments(dir: string): Segment[] {
  return readdirSync(dir)
    .map((name) => NAME.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({
      path: join(dir, match[0]),
      firstSeq: Number(match[1]),
      lastSeq: Number(match[1]) - 1,
      bytes: 0,
    }))
    .sort((a, b) => a.firstSeq - b.firstSeq);
}

export function parseRecord(payload: Buffer): EventRecord {
  return JSON.parse(payload.toString('utf8')) as EventRecord;
}

/** The last whole record of a segment file, read without changing it. */
export function lastRecordOf(path: string): EventRecord | undefined {
  return splitSegment(readFileSync(path), true).pieces.at(-1)?.last;
}

/** A run of whole frames of one segment file, with consecutive sequence numbers. */
export interface Piece {
  /** Byte offsets of the run in its file. */
  start: number;
  end: number;
  frames: number;
  first: EventRecord;
  last: EventRecord;
}

/** What a segment file holds: its whole runs, the damage between them, and a torn tail. */
export interface SegmentSplit {
  pieces: Piece[];
  damage: { offset: number; reason: string }[];
  tornTail?: { offset: number; bytes: number; reason: string };
}

/** The byte every frame's payload starts with: a record is a JSON object. */
const OPEN_BRACE = 0x7b;

/**
 * Where the next whole frame after damaged bytes starts: a header whose length and CRC hold for the
 * bytes after it, and whose payload is a JSON object. Searched from `from` by the payload's first
 * byte, so a frame is found wherever the damage ended.
 */
export function resync(bytes: Buffer, from: number): number | undefined {
  let at = bytes.indexOf(OPEN_BRACE, from + HEADER_BYTES);
  while (at !== -1) {
    const start = at - HEADER_BYTES;
    if (scanFrame(bytes, start).kind === 'frame') return start;
    at = bytes.indexOf(OPEN_BRACE, at + 1);
  }
  return undefined;
}

/**
 * Splits a segment's bytes into runs of whole frames. A bad frame with a whole one after it is damage
 * (the run ends there and the next begins at the frame found after it); in the newest segment a bad
 * frame with nothing whole after it is a torn tail, a write cut short. Only each run's first and last
 * record are parsed, unless their numbers say records in between do not follow one another: then
 * the run is split where they stop. Links and hashes are not checked here (see verifyChain).
 */
export function splitSegment(bytes: Buffer, newest: boolean): SegmentSplit {
  const split: SegmentSplit = { pieces: [], damage: [] };
  let runStart = 0;
  let frames = 0;
  const closeRun = (end: number) => {
    if (frames > 0) split.pieces.push(...runPieces(bytes, runStart, end, split));
    frames = 0;
  };
  let offset = 0;
  for (;;) {
    const frame = scanFrame(bytes, offset);
    if (frame.kind === 'end') {
      closeRun(offset);
      return split;
    }
    if (frame.kind === 'torn') {
      closeRun(offset);
      const next = resync(bytes, offset);
      if (next === undefined) {
        if (newest) split.tornTail = { offset, bytes: bytes.length - offset, reason: frame.reason };
        else split.damage.push({ offset, reason: `${frame.reason}, to the end of the file` });
        return split;
      }
      split.damage.push({ offset, reason: `${frame.reason}; ${next - offset} byte(s) unreadable` });
      offset = next;
      runStart = next;
      continue;
    }
    frames += 1;
    offset = frame.next;
  }
}

/** One run of whole frames as pieces: one, unless the records' numbers do not follow one another. */
function runPieces(bytes: Buffer, start: number, end: number, split: SegmentSplit): Piece[] {
  const parsed = tryParse(bytes, start, end);
  if (parsed) return [parsed];
  // Numbers that do not add up, or a payload that is not a record: read each frame to find where.
  const pieces: Piece[] = [];
  let piece: Piece | undefined;
  for (let offset = start; offset < end; ) {
    const frame = scanFrame(bytes, offset) as Extract<FrameScan, { kind: 'frame' }>;
    let record: EventRecord | undefined;
    try {
      record = parseRecord(frame.payload);
    } catch {
      record = undefined;
    }
    if (!record || typeof record.seq !== 'number') {
      split.damage.push({ offset, reason: 'a whole frame that holds no record' });
      piece = undefined;
    } else if (piece && record.seq === piece.last.seq + 1) {
      piece.end = frame.next;
      piece.frames += 1;
      piece.last = record;
    } else {
      if (piece)
        split.damage.push({ offset, reason: `numbering jumps from ${piece.last.seq} to ${record.seq}` });
      piece = { start: offset, end: frame.next, frames: 1, first: record, last: record };
      pieces.push(piece);
    }
    offset = frame.next;
  }
  return pieces;
}

/** A run read by its first and last record only, when those parse and their numbers span the run. */
function tryParse(bytes: Buffer, start: number, end: number): Piece | undefined {
  const first = scanFrame(bytes, start) as Extract<FrameScan, { kind: 'frame' }>;
  let lastStart = start;
  let frames = 0;
  for (let offset = start; offset < end; ) {
    lastStart = offset;
    offset += HEADER_BYTES + bytes.readUInt32LE(offset);
    frames += 1;
  }
  const last = scanFrame(bytes, lastStart) as Extract<FrameScan, { kind: 'frame' }>;
  try {
    const piece = { start, end, frames, first: parseRecord(first.payload), last: parseRecord(last.payload) };
    const spans = typeof piece.first.seq === 'number' && piece.last.seq - piece.first.seq + 1 === frames;
    return spans ? piece : undefined;
  } catch {
    return undefined;
  }
}

/** The records of one segment's bytes, in order, from a frame boundary. */
export function* recordsOf(bytes: Buffer, start = 0): Generator<{ record: EventRecord; next: number }> {
  let offset = start;
  for (;;) {
    const frame = scanFrame(bytes, offset);
    if (frame.kind !== 'frame') return;
    offset = frame.next;
    yield { record: parseRecord(frame.payload), next: offset };
  }
}
