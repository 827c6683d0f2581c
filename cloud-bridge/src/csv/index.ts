import { stringify } from 'csv-stringify/sync';
import type { FastifyReply } from 'fastify';

/** A cell as the bridge writes it: text, a number, or nothing (an empty cell). */
export type CsvCell = string | number | undefined;

export interface CsvOptions {
  /** A UTF-8 byte-order mark first, so Excel set to a Chinese locale reads names right. */
  bom?: boolean;
  /** CRLF (what Excel writes) or LF line ends; LF by default. */
  lineEnd?: 'crlf' | 'lf';
}

/**
 * The one CSV writer of the bridge, for every file a person may open in a spreadsheet. A cell that
 * starts with = + - @, a tab or a carriage return gets a leading apostrophe, so a value a device or
 * an import put there (`=HYPERLINK(…)`) is shown as text and never runs as a formula; a cell holding
 * a separator, a quote or any line break is quoted (RFC 4180). The header is the first row.
 */
export function toCsv(rows: readonly (readonly CsvCell[])[], options: CsvOptions = {}): string {
  return stringify(rows as CsvCell[][], {
    escape_formulas: true,
    // A bare LF or CR inside a cell is quoted too, whatever the line end: csv-stringify on its own
    // quotes only the record delimiter, and a lone LF would split the row for most readers.
    quoted_match: /[\r\n]/,
    record_delimiter: options.lineEnd === 'crlf' ? 'windows' : 'unix',
    bom: options.bom ?? false,
  });
}

/**
 * Answers with a CSV file a browser saves as `name`: a character other than a letter, digit, `.`,
 * `_` or `-` becomes `_`, so no id in the name can break the header.
 */
export function sendCsv(reply: FastifyReply, name: string, csv: string): FastifyReply {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name.replace(/[^\w.-]/g, '_')}"`)
    .send(csv);
}
