import { describe, expect, it } from 'vitest';
import { maskCardId, maskCardPath } from './index.js';

describe('card ids in logs', () => {
  it('masks all but the last four characters', () => {
    expect(maskCardId('E000000123')).toBe('******0123');
    expect(maskCardId('E12')).toBe('***');
  });

  it('masks the card id of a request path and of a card query, and leaves other paths alone', () => {
    expect(maskCardPath('/v1/cards/E000000123/lost')).toBe('/v1/cards/******0123/lost');
    expect(maskCardPath('/v1/ops/cards/E000000123')).toBe('/v1/ops/cards/******0123');
    expect(maskCardPath('/v1/hotlist?card=E000000123&x=1')).toBe('/v1/hotlist?card=******0123&x=1');
    expect(maskCardPath('/v1/events?person=p0000011')).toBe('/v1/events?person=p0000011');
  });
});
