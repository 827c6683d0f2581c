import { describe, expect, it } from 'vitest';
import { boundedLabel, OTHER_LABEL } from './index.js';

describe('boundedLabel', () => {
  it('keeps the first values as they are and folds every later one into other', () => {
    const label = boundedLabel(2);
    expect(['lost', 'expired', 'lost', 'passback', 'expired', 'x'].map(label)).toEqual([
      'lost',
      'expired',
      'lost',
      OTHER_LABEL,
      'expired',
      OTHER_LABEL,
    ]);
  });
});
