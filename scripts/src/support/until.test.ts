import { describe, expect, it } from 'vitest';
import { until } from './until.js';

describe('until', () => {
  it('returns what the check found, once it finds something', async () => {
    let calls = 0;
    expect(await until(() => (++calls === 3 ? 'found' : undefined), { everyMs: 1 })).toBe('found');
    expect(calls).toBe(3);
  });

  it('names what it waited for when it gives up: the given words, or else the check itself', async () => {
    await expect(until(() => false, { what: 'the reader', timeoutMs: 30 })).rejects.toThrow(
      'timed out after 30 ms waiting for the reader',
    );
    const readers: string[] = [];
    await expect(until(() => readers.includes('Virtual PCD 00 00'), { timeoutMs: 30 })).rejects.toThrow(
      /waiting for \(\) => readers\.includes\(.Virtual PCD 00 00.\)/,
    );
  });
});
