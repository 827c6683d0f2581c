import { type CardEntry, CardEntry as CardEntrySchema, describeIssues } from '@educard/terminal-sdk';
import { parse } from 'csv-parse/sync';

/** The columns of a roster CSV, in the order a template lists them. */
export const CSV_COLUMNS = [
  'card_id',
  'credential',
  'uid',
  'public_key',
  'person_id',
  'role',
  'school',
  'grade',
  'class',
  'status',
  'valid_from',
  'valid_until',
  'zones',
  'schedules',
  'display_name',
] as const;

export interface RowProblem {
  /** 1-based line in the file, the header being line 1. */
  line: number;
  cardId?: string;
  problem: string;
}

const list = (text: string | undefined) =>
  (text ?? '')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);

/** Reads a roster CSV row by row into card entries, and a problem for every row that is not one. */
export function parseRosterCsv(text: string): {
  cards: { line: number; card: CardEntry }[];
  problems: RowProblem[];
} {
  let rows: Record<string, string>[];
  try {
    rows = parse(text, {
      columns: true,
      skip_empty_lines: true,
      trim: true,
      bom: true,
      relax_column_count: false,
    });
  } catch (error) {
    return { cards: [], problems: [{ line: 0, problem: `not a readable CSV: ${(error as Error).message}` }] };
  }
  const header = Object.keys(rows[0] ?? {});
  const missing = CSV_COLUMNS.filter(
    (c) =>
      !header.includes(c) &&
      !['uid', 'public_key', 'grade', 'class', 'display_name', 'schedules'].includes(c),
  );
  if (rows.length && missing.length)
    return { cards: [], problems: [{ line: 1, problem: `missing columns: ${missing.join(', ')}` }] };
  const cards: { line: number; card: CardEntry }[] = [];
  const problems: RowProblem[] = [];
  rows.forEach((row, index) => {
    const line = index + 2;
    const credential =
      row.credential === 'edu-cpu'
        ? { kind: 'edu-cpu', publicKey: row.public_key, ...(row.uid ? { uid: row.uid } : {}) }
        : { kind: row.credential, uid: row.uid };
    const candidate = {
      cardId: row.card_id,
      credential,
      personId: row.person_id,
      role: row.role,
      school: row.school,
      ...(row.grade ? { grade: row.grade } : {}),
      ...(row.class ? { class: row.class } : {}),
      status: row.status || 'active',
      validFrom: row.valid_from,
      validUntil: row.valid_until,
      zones: list(row.zones),
      schedules: list(row.schedules),
      ...(row.display_name ? { displayName: row.display_name } : {}),
    };
    const parsed = CardEntrySchema.safeParse(candidate);
    if (parsed.success) cards.push({ line, card: parsed.data });
    else
      problems.push({
        line,
        ...(row.card_id ? { cardId: row.card_id } : {}),
        problem: describeIssues(parsed.error),
      });
  });
  return { cards, problems };
}
