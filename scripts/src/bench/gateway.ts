import type { BenchResult } from './report.js';

export async function gatewayBench(): Promise<BenchResult[]> {
  return [];
}
