import { readFile } from 'node:fs/promises';
import { type EventRecord, eventHash, JournalDamagedData, verifyChain } from '@educard/terminal-sdk';
import type { ChainPoint } from './recovery.js';
import { recordsOf, type Segment } from './segments.js';

export type ChainProblem = 'hash' | 'prev' | 'seq';

/** A break found in the chain, with where the caller read it. */
export interface ChainBreakAt<Where> {
  seq: number;
  problem: ChainProblem;
  where: Where;
}

/**
 * Checks a journal's records in order: each record's own hash, and each link (number and `prev`) to
 * the one before. A link that breaks is not tampering when a `journal.damaged` record of the same
 * journal (usually later: it is appended when the damage is found) names the lost range that ends
 * just before the record and the hash the record links to; any other break is. A record whose hash
 * does not match its contents is always a failure.
 */
export class ChainWalker<Where> {
  private point: ChainPoint | undefined;
  private readonly pending: (ChainBreakAt<Where> & { prev: string })[] = [];
  private readonly explanations: JournalDamagedData[] = [];
  private altered: ChainBreakAt<Where> | undefined;
  records = 0;
  /** Breaks the journal explains, as found. */
  explained = 0;

  constructor(start?: ChainPoint) {
    this.point = start;
  }

  /** Takes the next record; false once a record is found altered (nothing after it is trusted). */
  add(record: EventRecord, where: Where): boolean {
    if (this.altered) return false;
    const broken = verifyChain([record], this.point);
    if (broken && (broken.problem === 'hash' || eventHash(record) !== record.hash)) {
      this.altered = { seq: record.seq, problem: broken.problem, where };
      return false;
    }
    if (broken) this.pending.push({ seq: record.seq, problem: broken.problem, where, prev: record.prev });
    if (record.type === 'journal.damaged') {
      const data = JournalDamagedData.safeParse(record.data);
      if (data.success) this.explanations.push(data.data);
    }
    this.point = { seq: record.seq, hash: record.hash };
    this.records += 1;
    return true;
  }

  /** The first break nothing explains, or the altered record; nothing when the chain holds. */
  finish(): ChainBreakAt<Where> | undefined {
    if (this.altered) return this.altered;
    for (const found of this.pending) {
      const explained = this.explanations.some(
        (d) => d.firstSeq !== undefined && d.lastSeq === found.seq - 1 && d.resumeHash === found.prev,
      );
      if (!explained) return found;
      this.explained += 1;
    }
    return undefined;
  }
}

export type ChainVerdict = { ok: true; records: number } | { ok: false; seq: number; problem: string };

/** Walks the chain through `segments` in order, from `start` (the genesis when undefined). */
export async function verifySegments(
  segments: readonly Segment[],
  start: ChainPoint | undefined,
): Promise<ChainVerdict> {
  const walker = new ChainWalker<undefined>(start);
  for (const segment of segments) {
    for (const { record } of recordsOf(await readFile(segment.path))) {
      if (!walker.add(record, undefined)) break;
    }
  }
  const broken = walker.finish();
  return broken
    ? { ok: false, seq: broken.seq, problem: broken.problem }
    : { ok: true, records: walker.records };
}
