import { z } from 'zod';
import { canonicalBytes } from '../canonical/index.js';
import { type Ed25519, type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { fromBase64Url, keyIdOf, toBase64Url } from '../crypto/encoding.js';
import { Base64Url, KeyId } from './common.js';

/**
 * A signed document, after TUF: the `signed` part is signed over its canonical bytes, and any number
 * of keys may sign it; the reader decides which keys it trusts and how many must agree.
 */
export const SignatureSchema = z.object({ keyId: KeyId, sig: Base64Url });
export const SignedEnvelopeSchema = z.object({
  signed: z.record(z.string(), z.unknown()),
  signatures: z.array(SignatureSchema).min(1).max(16),
});
export type Signature = z.infer<typeof SignatureSchema>;
export interface SignedEnvelope<T> {
  signed: T;
  signatures: Signature[];
}

export function signDocument<T>(
  signed: T,
  keys: Ed25519KeyPair[],
  impl: Ed25519 = ed25519,
): SignedEnvelope<T> {
  const bytes = canonicalBytes(signed);
  return {
    signed,
    signatures: keys.map((key) => ({
      keyId: keyIdOf(key.publicKey),
      sig: toBase64Url(impl.sign(bytes, key.seed)),
    })),
  };
}

/**
 * Counts the distinct trusted keys whose signature over the canonical bytes of `signed` is valid.
 * The signature is checked over the document as received (not as re-parsed), so fields that a newer
 * peer added are covered by it too.
 */
export function countValidSignatures(
  envelope: { signed: unknown; signatures: Signature[] },
  trusted: ReadonlyMap<string, Uint8Array>,
  impl: Ed25519 = ed25519,
): number {
  const bytes = canonicalBytes(envelope.signed);
  const valid = new Set<string>();
  for (const { keyId, sig } of envelope.signatures) {
    const key = trusted.get(keyId);
    if (!key || valid.has(keyId)) continue;
    if (impl.verify(bytes, fromBase64Url(sig), key)) valid.add(keyId);
  }
  return valid.size;
}
