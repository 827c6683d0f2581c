import { crc32 } from 'node:zlib';

/**
 * One record on disk: a 4-byte little-endian payload length, the CRC-32 of the payload, then the
 * payload (the record's canonical JSON). The length and CRC let recovery tell a whole record from a
 * torn one, whatever the payload holds.
 */
export const HEADER_BYTES = 8;
/** A record larger than this is a corrupt length field, not a record. */
export const MAX_RECORD_BYTES = 1024 * 1024;

export function encodeFrame(payload: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.writeUInt32LE(crc32(payload), 4);
  payload.copy(frame, HEADER_BYTES);
  return frame;
}

export type FrameScan =
  | { kind: 'frame'; payload: Buffer; next: number }
  | { kind: 'end' }
  | { kind: 'torn'; reason: string };

/** Reads the frame at `offset` of a segment's bytes. */
export function scanFrame(bytes: Buffer, offset: number): FrameScan {
  if (offset === bytes.length) return { kind: 'end' };
  if (bytes.length - offset < HEADER_BYTES) return { kind: 'torn', reason: 'partial header' };
  const length = bytes.readUInt32LE(offset);
  if (length === 0 || length > MAX_RECORD_BYTES)
    return { kind: 'torn', reason: `impossible length ${length}` };
  const start = offset + HEADER_BYTES;
  if (bytes.length - start < length) return { kind: 'torn', reason: 'partial record' };
  const payload = bytes.subarray(start, start + length);
  if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) return { kind: 'torn', reason: 'checksum mismatch' };
  return { kind: 'frame', payload, next: start + length };
}
