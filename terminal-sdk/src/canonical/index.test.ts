import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalString } from './index.js';

const reference = createRequire(import.meta.url)('canonicalize') as (value: unknown) => string;

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalString({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('gives the same text for the same value whatever the key order', () => {
    expect(canonicalString(JSON.parse('{ "x": 1, "y": [true, null] }'))).toBe(
      canonicalString(JSON.parse('{"y":[true,null],"x":1}')),
    );
  });

  it('writes numbers and strings the way RFC 8785 says', () => {
    expect(canonicalString([1e21, 0.1, -0, 1.5e-7, 'é\n"'])).toBe('[1e+21,0.1,0,1.5e-7,"é\\n\\""]');
  });

  it('refuses a value with no JSON form', () => {
    expect(() => canonicalString(undefined)).toThrow(/no JSON representation/);
  });

  it('agrees with the reference implementation on any JSON value, parsed back or built in any key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const expected = reference(value);
        expect(canonicalString(value)).toBe(expected);
        expect(canonicalString(JSON.parse(expected))).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('sorts keys that parse into integer order, which is not RFC 8785 order', () => {
    expect(canonicalString(JSON.parse('{"10":1,"2":2,"a":3}'))).toBe('{"10":1,"2":2,"a":3}');
  });
});
