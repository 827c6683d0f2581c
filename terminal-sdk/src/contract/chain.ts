import { canonicalString } from '../canonical/index.js';
import { sha256Hex } from '../crypto/encoding.js';
import type { EventRecord } from './events.js';

/** The hash a record must carry: SHA-256 over the canonical bytes of the record without `hash`. */
export function eventHash(record: Omit<EventRecord, 'hash'>): string {
  const { hash: _ignored, ...rest } = record as EventRecord;
  return sha256Hex(canonicalString(rest));
}

export interface ChainBreak {
  seq: number;
  problem: 'hash' | 'prev' | 'seq';
}

/**
 * Checks that records follow each other: consecutive sequence numbers, each `prev` the `hash` of the
 * one before, each `hash` right. Returns the first break, or nothing when the run is whole.
 */
export function verifyChain(
  records: Iterable<EventRecord>,
  start?: { seq: number; hash: string },
): ChainBreak | undefined {
  let expectedSeq = start ? start.seq + 1 : undefined;
  let expectedPrev = start?.hash;
  for (const record of records) {
    if (expectedSeq !== undefined && record.seq !== expectedSeq) return { seq: record.seq, problem: 'seq' };
    if (expectedPrev !== undefined && record.prev !== expectedPrev)
      return { seq: record.seq, problem: 'prev' };
    if (eventHash(record) !== record.hash) return { seq: record.seq, problem: 'hash' };
    expectedSeq = record.seq + 1;
    expectedPrev = record.hash;
  }
  return undefined;
}
