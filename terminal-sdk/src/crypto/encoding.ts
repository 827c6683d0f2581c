import { hash } from 'node:crypto';

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function fromBase64Url(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

export function sha256Hex(bytes: Uint8Array | string): string {
  // The one-shot form skips the Hash object: it counts when every event record is hashed twice.
  return hash('sha256', bytes, 'hex');
}

/** A key's id: the first 16 hex digits of the SHA-256 of its raw public key bytes. */
export function keyIdOf(publicKey: Uint8Array): string {
  return sha256Hex(publicKey).slice(0, 16);
}
