import { describe, expect, it } from 'vitest';
import { backoffDelay, retriableStatus, retryAfterMs } from './index.js';

describe('backoffDelay', () => {
  it('backs off exponentially with jitter, up to the maximum', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0)).toBe(50);
    expect(backoffDelay(0, 100, 10_000, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, 10_000, () => 1)).toBe(800);
    expect(backoffDelay(39, 100, 10_000, () => 0.5)).toBe(7500);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds or a date, and nothing from what is neither', () => {
    const now = Date.parse('2026-11-23T08:00:00Z');
    expect(retryAfterMs('120', now)).toBe(120_000);
    expect(retryAfterMs('Mon, 23 Nov 2026 08:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Mon, 23 Nov 2026 07:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});

describe('retriableStatus', () => {
  it('asks again of a busy or failing server, never of a refusal', () => {
    expect([429, 500, 502, 503].map(retriableStatus)).toEqual([true, true, true, true]);
    expect([200, 206, 400, 401, 403, 404, 416].map(retriableStatus)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});
