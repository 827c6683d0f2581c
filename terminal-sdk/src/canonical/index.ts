import { createRequire } from 'node:module';

// canonicalize ships CommonJS with a d.ts that declares an ES default export; loading it through
// require gives the function its runtime really exports.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (value: unknown) => string | undefined;

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a JSON value. Every signature and every hash in the
 * wire contract is taken over its bytes, so that neither key order nor whitespace can change them.
 */
export function canonicalString(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalString(value), 'utf8');
}
