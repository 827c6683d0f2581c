import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../paths.js';

export interface BenchResult {
  id: string;
  value: number;
  unit: string;
  /** The target as a comparison, e.g. "<= 2" or ">= 5000". */
  target: string;
  meets: boolean;
}

export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const median = (samples: number[]) => percentile(samples, 50);

const round = (value: number) => Number(value.toPrecision(4));

/** A figure with an upper bound. */
export function atMost(id: string, value: number, unit: string, limit: number): BenchResult {
  return { id, value: round(value), unit, target: `<= ${round(limit)}`, meets: value <= limit };
}

/** A figure with a lower bound. */
export function atLeast(id: string, value: number, unit: string, floor: number): BenchResult {
  return { id, value: round(value), unit, target: `>= ${floor}`, meets: value >= floor };
}

/** A figure that must be exactly its target (a ratio of 1: nothing missed). */
export function exactly(id: string, value: number, unit: string, expected: number): BenchResult {
  return { id, value: round(value), unit, target: `= ${expected}`, meets: value === expected };
}

/** A figure reported for comparison, with no target of its own. */
export function info(id: string, value: number, unit: string): BenchResult {
  return { id, value: round(value), unit, target: 'report', meets: true };
}

export function printTable(group: string, results: BenchResult[]): void {
  const rows = results.map((r) => [r.id, `${r.value} ${r.unit}`, r.target, r.meets ? 'yes' : 'NO']);
  const header = ['benchmark', 'figure', 'target', 'meets'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i] as number)).join('  ');
  process.stdout.write(`\n${group}\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

/** Merges this run's figures into bench-results.json, replacing earlier figures with the same id. */
export async function saveResults(results: BenchResult[]): Promise<string> {
  const path = join(REPO_ROOT, 'bench-results.json');
  const earlier: BenchResult[] = await readFile(path, 'utf8')
    .then((text) => JSON.parse(text) as BenchResult[])
    .catch(() => []);
  const ids = new Set(results.map((r) => r.id));
  const merged = [...earlier.filter((r) => !ids.has(r.id)), ...results];
  await writeFile(path, `${JSON.stringify(merged, null, 2)}\n`);
  return path;
}
