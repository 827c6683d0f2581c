import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { toCsv } from './index.js';

describe('the CSV writer', () => {
  it('makes every formula-led cell inert: = + - @ tab and CR', () => {
    const hostile = ['=HYPERLINK("http://x.invalid","click")', '+1+1', '-2+3', '@SUM(A1)', '\t=1', '\r=1'];
    const text = toCsv([hostile]);
    const [row] = parse(text, { relax_quotes: false }) as string[][];
    expect(row).toEqual(hostile.map((cell) => `'${cell}`));
  });

  it('quotes separators, quotes and every line break, so a cell never splits a row', () => {
    const cells = ['a,b', 'say "hi"', 'two\nlines', 'cr\rinside', 'plain', 7, undefined];
    const text = toCsv([['one', 'two', 'three', 'four', 'five', 'six', 'seven'], cells]);
    const rows = parse(text) as string[][];
    expect(rows).toHaveLength(2);
    expect(rows[1]).toEqual(['a,b', 'say "hi"', 'two\nlines', 'cr\rinside', 'plain', '7', '']);
  });

  it('writes what a spreadsheet in a Chinese locale reads: a BOM and CRLF when asked', () => {
    expect(toCsv([['名字'], ['王伟']], { bom: true, lineEnd: 'crlf' })).toBe('\uFEFF名字\r\n王伟\r\n');
    expect(toCsv([['a'], ['b']])).toBe('a\nb\n');
  });
});
