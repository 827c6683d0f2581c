import { describe, expect, it } from 'vitest';
import { backoffDelay } from './index.js';

describe('backoffDelay', () => {
  it('backs off exponentially with jitter, up to the maximum', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(39, 100, 10_000, () => 0.5)).toBe(7500);
  });
});
