import {
  type CatalogueItem,
  CatalogueItem as CatalogueItemSchema,
  describeIssues,
} from '@educard/terminal-sdk';
import { parse } from 'csv-parse/sync';
import type { ItemProblem } from './types.js';

/** The columns of a catalogue CSV; `call_number` and `status` may be left out. */
export const CATALOGUE_COLUMNS = ['item_id', 'title', 'call_number', 'status'] as const;

/** Reads a catalogue CSV row by row into items, and a problem for every row that is not one. */
export function parseCatalogueCsv(text: string): {
  items: { line: number; item: CatalogueItem }[];
  problems: ItemProblem[];
} {
  let rows: Record<string, string>[];
  try {
    rows = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true });
  } catch (error) {
    return { items: [], problems: [{ line: 0, problem: `not a readable CSV: ${(error as Error).message}` }] };
  }
  const header = Object.keys(rows[0] ?? {});
  const missing = ['item_id', 'title'].filter((c) => !header.includes(c));
  if (rows.length && missing.length)
    return { items: [], problems: [{ line: 1, problem: `missing columns: ${missing.join(', ')}` }] };
  const items: { line: number; item: CatalogueItem }[] = [];
  const problems: ItemProblem[] = [];
  rows.forEach((row, index) => {
    const line = index + 2;
    const parsed = CatalogueItemSchema.safeParse({
      itemId: row.item_id,
      title: row.title,
      ...(row.call_number ? { callNumber: row.call_number } : {}),
      ...(row.status ? { status: row.status } : {}),
    });
    if (parsed.success) items.push({ line, item: parsed.data });
    else
      problems.push({
        line,
        ...(row.item_id ? { itemId: row.item_id } : {}),
        problem: describeIssues(parsed.error),
      });
  });
  return { items, problems };
}
