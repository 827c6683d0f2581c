import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventRecord } from '@educard/terminal-sdk';
import { type FrameScan, scanFrame } from './frame.js';

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

export interface SegmentScan {
  frames: number;
  /** Where the whole frames end. */
  validBytes: number;
  totalBytes: number;
  torn?: Extract<FrameScan, { kind: 'torn' }>;
  first?: EventRecord;
  last?: EventRecord;
  /** A damaged record with whole ones after it: corruption at rest, not a write cut short. */
  wholeRecordsFollow?: boolean;
}

/** Whether a whole frame follows the damaged one at `offset`: then it is damage, not a torn tail. */
export function wholeFrameAfter(bytes: Buffer, offset: number): boolean {
  if (bytes.length - offset < 8) return false;
  const next = offset + 8 + bytes.readUInt32LE(offset);
  return next < bytes.length && scanFrame(bytes, next).kind === 'frame';
}

/** Walks a segment's frames, checking length and CRC of each, parsing only the first and the last. */
export function scanSegment(path: string): SegmentScan {
  const bytes = readFileSync(path);
  let offset = 0;
  let frames = 0;
  let firstPayload: Buffer | undefined;
  let lastPayload: Buffer | undefined;
  for (;;) {
    const frame = scanFrame(bytes, offset);
    if (frame.kind === 'end') break;
    if (frame.kind === 'torn') {
      const scan = {
        frames,
        validBytes: offset,
        totalBytes: bytes.length,
        torn: frame,
        ...ends(firstPayload, lastPayload),
      };
      return { ...scan, wholeRecordsFollow: wholeFrameAfter(bytes, offset) };
    }
    firstPayload ??= frame.payload;
    lastPayload = frame.payload;
    frames += 1;
    offset = frame.next;
  }
  return { frames, validBytes: offset, totalBytes: bytes.length, ...ends(firstPayload, lastPayload) };
}

function ends(first: Buffer | undefined, last: Buffer | undefined): Pick<SegmentScan, 'first' | 'last'> {
  return first && last ? { first: parseRecord(first), last: parseRecord(last) } : {};
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
