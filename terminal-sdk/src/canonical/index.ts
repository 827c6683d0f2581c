import { createRequire } from 'node:module';

// canonicalize ships CommonJS with a d.ts that declares an ES default export; loading it through
// require gives the function its runtime really exports.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (value: unknown) => string | undefined;

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a JSON value. Every signature and every hash in the
 * wire contract is taken over its bytes, so that neither key order nor whitespace can change them.
 */
export function canonicalString(value: unknown): string {
  // Text that was canonical when parsed keeps its key order, and for such a value JSON.stringify
  // already writes RFC 8785: records coming off the journal or the wire take this path, at a
  // third of the cost of sorting every object again.
  if (isAlreadyCanonical(value)) return JSON.stringify(value);
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalString(value), 'utf8');
}

/**
 * True when JSON.stringify of the value is its RFC 8785 text: plain JSON data only, every object's
 * keys strictly ascending by UTF-16 code units (the order RFC 8785 sorts by), numbers finite.
 */
function isAlreadyCanonical(value: unknown): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (const item of value) if (!isAlreadyCanonical(item)) return false;
        return true;
      }
      const prototype = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return false;
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) {
        if (i > 0 && !((keys[i - 1] as string) < (keys[i] as string))) return false;
        if (!isAlreadyCanonical((value as Record<string, unknown>)[keys[i] as string])) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
