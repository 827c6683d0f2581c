import { canonicalBytes } from '../canonical/index.js';
import { type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { fromBase64Url, toBase64Url } from '../crypto/encoding.js';
import { SPEC_VERSION } from './common.js';
import type { EventRecord } from './events.js';
import type { EventBatch } from './messages.js';

/** Builds and signs a batch of consecutive records with the device's key. */
export function signBatch(
  device: string,
  school: string,
  records: EventRecord[],
  key: Ed25519KeyPair,
): EventBatch {
  const first = records[0];
  const last = records.at(-1);
  if (!first || !last) throw new RangeError('a batch needs at least one record');
  const unsigned = {
    v: SPEC_VERSION,
    device,
    school,
    from: first.seq,
    to: last.seq,
    head: last.hash,
    records,
    sentAt: new Date().toISOString(),
  };
  return { ...unsigned, sig: toBase64Url(ed25519.sign(canonicalBytes(unsigned), key.seed)) };
}

/** Checks a batch's signature over what was received, fields this peer does not know included. */
export function verifyBatchSignature(batch: { sig: string }, publicKey: Uint8Array): boolean {
  const { sig, ...unsigned } = batch;
  return ed25519.verify(canonicalBytes(unsigned), fromBase64Url(sig), publicKey);
}
