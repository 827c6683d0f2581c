import { join } from 'node:path';
import { JournalDamagedData } from '@educard/terminal-sdk';
import { z } from 'zod';
import { DurableJsonFile } from '../storage/index.js';

/** A loss the journal knows of, explained by a `journal.damaged` record. */
export const JournalBreak = JournalDamagedData.extend({
  /** When it was found. */
  at: z.string(),
  /** The `journal.damaged` record that explains it, once appended. */
  damagedSeq: z.number().int().positive().optional(),
});
export type JournalBreak = z.infer<typeof JournalBreak>;

const BreaksFile = z.object({ v: z.literal(1), breaks: z.array(JournalBreak) });
type BreaksFile = z.infer<typeof BreaksFile>;

/** Breaks kept for `educard status` and doctor once nothing needs them any more. */
const HISTORY = 20;

/**
 * `breaks.json`: the breaks whose explanation is not yet behind the bridge's acknowledgement, and the
 * last few for the record. Written before a damaged file is moved aside, so a crash in between never
 * lets the journal number records again from a point it had lost.
 */
export class BreaksFileStore {
  private readonly file: DurableJsonFile<BreaksFile>;

  constructor(dir: string) {
    this.file = new DurableJsonFile<BreaksFile>(
      join(dir, 'breaks.json'),
      (value) => BreaksFile.safeParse(value).success,
    );
  }

  /** The breaks on file; none when there is no file, or when it was damaged (then quarantined). */
  async read(): Promise<{ breaks: JournalBreak[]; damaged?: string }> {
    const held = await this.file.read();
    return {
      breaks: held?.breaks ?? [],
      ...(this.file.damaged ? { damaged: this.file.damaged.reason } : {}),
    };
  }

  /**
   * Writes the breaks still needed (a range the journal still holds records after, or an explanation
   * not yet acknowledged) and the last few of the others.
   */
  write(breaks: JournalBreak[], needed: (b: JournalBreak) => boolean): Promise<void> {
    const done = breaks.filter((b) => !needed(b)).slice(-HISTORY);
    const kept = breaks.filter((b) => needed(b) || done.includes(b));
    return this.file.write({ v: 1, breaks: kept });
  }
}

/** What the `journal.damaged` record of a break says. */
export function damagedData(b: JournalBreak): JournalDamagedData {
  const { at: _at, damagedSeq: _seq, ...data } = b;
  return data;
}

/** The break a chain resumes after: the one whose lost range ends just before `seq`. */
export function breakBefore(breaks: readonly JournalBreak[], seq: number): JournalBreak | undefined {
  return breaks.findLast((b) => b.lastSeq === seq - 1 && b.firstSeq !== undefined);
}

/**
 * Puts on record that records `firstLost`..`next.seq - 1` were dropped from memory while the disk was
 * full: a break of its own, or the one still open they extend (the disk refused again before it was
 * explained). False when a break on record already covers them.
 */
export function noteDropped(
  breaks: JournalBreak[],
  loss: { firstLost: number; next: { seq: number; prev: string }; maxHeld: number; at: string },
): boolean {
  const { firstLost, next, maxHeld, at } = loss;
  const lastLost = next.seq - 1;
  const covered = breaks.some(
    (b) => b.firstSeq !== undefined && b.firstSeq <= firstLost && (b.lastSeq as number) >= lastLost,
  );
  if (covered) return false;
  const open = breaks.find(
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
    at,
  };
  if (!open) breaks.push(b);
  b.firstSeq = Math.min(b.firstSeq as number, firstLost);
  b.lastSeq = lastLost;
  b.records = lastLost - b.firstSeq + 1;
  b.resumeHash = next.prev;
  b.reason = `${b.records} record(s) dropped from memory while the disk was full (the bound is ${maxHeld})`;
  return true;
}
