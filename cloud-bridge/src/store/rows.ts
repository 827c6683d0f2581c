import { Identifier } from '@educard/terminal-sdk';

/** A stored row the bridge cannot use: a key that is not the contract's Identifier, a body that does not parse. */
export interface BadRow {
  /** What kind of row: `roster version`, `catalogue version`, `school`. */
  what: string;
  /** Its key as stored, shortened for a log line. */
  key: string;
  problem: string;
}

/**
 * Where bad rows are told: the runtime logs each and raises the `data.invalid` alarm. A bad row is
 * skipped, never a reason for the bridge not to start or for the rows after it to be left out.
 */
export type BadRowSink = (row: BadRow) => void;

const shown = (key: string) => JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);

/** The ids that are the contract's Identifier (so safe in a topic, a URL or a file name); the rest are told to `sink`. */
export function usableIds(ids: Iterable<string>, what: string, sink: BadRowSink): string[] {
  const usable: string[] = [];
  for (const id of ids) {
    if (Identifier.safeParse(id).success) usable.push(id);
    else
      sink({
        what,
        key: shown(id),
        problem: 'not an identifier (letters, digits, ".", "_" or "-", at most 64)',
      });
  }
  return usable;
}

/** Runs `use` for one row; what it throws is told to `sink` as that row's problem, and the caller goes on. */
export async function eachRow<T>(
  rows: Iterable<T>,
  what: string,
  keyOf: (row: T) => string,
  sink: BadRowSink,
  use: (row: T) => Promise<unknown>,
): Promise<void> {
  for (const row of rows) {
    try {
      await use(row);
    } catch (error) {
      sink({ what, key: shown(keyOf(row)), problem: (error as Error).message });
    }
  }
}
