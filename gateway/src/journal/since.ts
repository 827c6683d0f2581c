import type { EventRecord } from '@educard/terminal-sdk';
import type { JournalStats } from './types.js';

/** What reading back a station's recent records needs of the journal. */
export interface ReadableJournal {
  /** Resolves once the record `seq` (by default the last appended) is on disk. */
  durable(seq?: number): Promise<void>;
  /** Up to `limit` durable records from `fromSeq` on, in order. */
  read(fromSeq: number, limit: number): Promise<EventRecord[]>;
  stats(): Pick<JournalStats, 'lastSeq'>;
}

const PAGE = 512;

/**
 * The journal's records stamped at or after `since`, oldest first: read backwards a page at a time
 * from the newest, so a station rebuilding its day reads its day and not the whole journal.
 */
export async function recordsSince(journal: ReadableJournal, since: number): Promise<EventRecord[]> {
  await journal.durable();
  const pages: EventRecord[][] = [];
  let upTo = journal.stats().lastSeq;
  while (upTo >= 1) {
    const from = Math.max(1, upTo - PAGE + 1);
    const page = await journal.read(from, upTo - from + 1);
    const first = page[0];
    if (!first) break;
    pages.push(page);
    if (page.every((record) => Date.parse(record.at) < since)) break;
    upTo = first.seq - 1;
  }
  return pages.reverse().flatMap((page) => page.filter((record) => Date.parse(record.at) >= since));
}
