import { describe, expect, it } from 'vitest';
import { Batches } from './index.js';

function collect(options: { everyMs: number; maxBatch?: number }, fail = false) {
  const applied: number[][] = [];
  const errors: string[] = [];
  const batches = new Batches<number>(
    (batch) => {
      if (fail) throw new Error('disk gone');
      applied.push(batch);
    },
    { error: (_details, message) => errors.push(message) },
    { ...options, failure: 'not written' },
  );
  return { batches, applied, errors };
}

describe('Batches', () => {
  it('hands over what came within everyMs together, and at once past maxBatch', async () => {
    const { batches, applied } = collect({ everyMs: 20, maxBatch: 3 });
    batches.push(1);
    batches.push(2);
    expect(applied).toEqual([]);
    batches.push(3);
    expect(applied).toEqual([[1, 2, 3]]);
    batches.push(4);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(applied).toEqual([[1, 2, 3], [4]]);
  });

  it('hands over what waits on flush, and logs a batch that could not be applied', () => {
    const { batches, applied } = collect({ everyMs: 60_000 });
    batches.push(1);
    batches.flush();
    batches.flush();
    expect(applied).toEqual([[1]]);
    const failing = collect({ everyMs: 60_000 }, true);
    failing.batches.push(1);
    failing.batches.flush();
    expect(failing.errors).toEqual(['not written']);
  });
});
