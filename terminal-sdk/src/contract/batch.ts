import { canonicalBytes } from '../canonical/index.js';
import { type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { fromBase64Url, toBase64Url } from '../crypto/encoding.js';
import { SPEC_VERSION } from './common.js';
import type { EventRecord } from './events.js';
import type { BatchLoss, EventBatch } from './messages.js';

/**
 * What a batch signature covers: everything but the records and the signature. The records are bound
 * through `head`, the hash of the last one, which commits to every record before it by the chain; the
 * receiver checks the chain up to `head`, so the signature need not hash the records a second time.
 */
function signedPart(batch: Record<string, unknown>): Record<string, unknown> {
  const { sig: _sig, records: _records, ...header } = batch;
  return header;
}

/**
 * Builds and signs a batch of consecutive records with the device's key; `lost` declares the break
 * in the device's chain just before the first record (see EventBatch.lost).
 */
export function signBatch(
  device: string,
  school: string,
  records: EventRecord[],
  key: Ed25519KeyPair,
  lost?: BatchLoss,
): EventBatch {
  const first = records[0];
  const last = records.at(-1);
  if (!first || !last) throw new RangeError('a batch needs at least one record');
  const header = {
    v: SPEC_VERSION,
    device,
    school,
    from: first.seq,
    to: last.seq,
    head: last.hash,
    sentAt: new Date().toISOString(),
    ...(lost ? { lost } : {}),
  };
  return { ...header, records, sig: toBase64Url(ed25519.sign(canonicalBytes(header), key.seed)) };
}

/**
 * Checks a batch's signature over its header as received (fields this peer does not know included),
 * off the event loop (Ed25519.verifyInPool). It proves the records only together with a chain check
 * that ends at `head`.
 */
export function verifyBatchSignature(
  batch: Record<string, unknown> & { sig: string },
  publicKey: Uint8Array,
): Promise<boolean> {
  return ed25519.verifyInPool(canonicalBytes(signedPart(batch)), fromBase64Url(batch.sig), publicKey);
}
