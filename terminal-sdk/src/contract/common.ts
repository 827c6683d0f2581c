import { z } from 'zod';

/** The contract's major version. A peer accepts its own major and ignores fields it does not know. */
export const SPEC_VERSION = 1 as const;

export const Identifier = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" or "-", starting with a letter or digit');
export const IsoTime = z.iso.datetime({ offset: true });
export const IsoDate = z.iso.date();
export const Hex = z.string().regex(/^[0-9a-f]*$/, 'lower-case hex');
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, '64 lower-case hex digits');
export const Base64Url = z.string().regex(/^[A-Za-z0-9_-]*$/, 'base64url');
/** A raw 32-byte Ed25519 public key, base64url without padding. */
// Canonical base64url only (the bits past the last byte zero: one spelling per key), as the gateway's
// roster table stores the bytes and must read back the same text.
export const PublicKey = z
  .string()
  .regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/, 'a 32-byte Ed25519 public key in canonical base64url');
export const KeyId = z.string().regex(/^[0-9a-f]{16}$/, '16 lower-case hex digits');

/** Formats a zod error as one line per problem, with the path to each. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseWith<T>(schema: z.ZodType<T>, value: unknown): ParseResult<T> {
  const result = schema.safeParse(value);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, error: describeIssues(result.error) };
}
