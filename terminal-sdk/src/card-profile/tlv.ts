/**
 * BER-TLV as ISO/IEC 7816-4 uses it: one- or two-byte tags (a first byte whose low five bits are all
 * set takes a second), lengths in one byte below 0x80, else 0x81 or 0x82 and one or two length bytes.
 * Only what the EDU card profile needs: no indefinite lengths, no tags past two bytes.
 */
export interface Tlv {
  tag: number;
  value: Uint8Array;
  /** The whole element, tag and length included: what a signature over it covers. */
  raw: Uint8Array;
}

export class TlvError extends Error {}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  if (length <= 0xff) return [0x81, length];
  if (length <= 0xffff) return [0x82, length >> 8, length & 0xff];
  throw new TlvError(`TLV value of ${length} bytes is too long`);
}

export function encodeTlv(tag: number, value: Uint8Array): Uint8Array {
  const tagBytes = tag > 0xff ? [tag >> 8, tag & 0xff] : [tag];
  return Uint8Array.from([...tagBytes, ...encodeLength(value.length), ...value]);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Every element at one level, in order. Throws TlvError on anything cut short or malformed. */
export function decodeTlvs(bytes: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  const need = (count: number) => {
    if (offset + count > bytes.length) throw new TlvError(`TLV cut short at byte ${offset}`);
  };
  while (offset < bytes.length) {
    const start = offset;
    need(1);
    let tag = bytes[offset++] as number;
    if ((tag & 0x1f) === 0x1f) {
      need(1);
      const second = bytes[offset++] as number;
      if (second & 0x80) throw new TlvError(`tag longer than two bytes at byte ${start}`);
      tag = (tag << 8) | second;
    }
    need(1);
    let length = bytes[offset++] as number;
    if (length === 0x81) {
      need(1);
      length = bytes[offset++] as number;
    } else if (length === 0x82) {
      need(2);
      length = ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
      offset += 2;
    } else if (length > 0x80 || length === 0x80) {
      throw new TlvError(`unsupported length form 0x${length.toString(16)} at byte ${start}`);
    }
    need(length);
    out.push({
      tag,
      value: bytes.subarray(offset, offset + length),
      raw: bytes.subarray(start, offset + length),
    });
    offset += length;
  }
  return out;
}

/** The value of the one element with `tag`; throws when it is missing, repeated or the wrong size. */
export function requireTlv(elements: Tlv[], tag: number, size?: { min?: number; max?: number }): Tlv {
  const found = elements.filter((e) => e.tag === tag);
  const name = `tag ${tag.toString(16).toUpperCase()}`;
  if (found.length !== 1) throw new TlvError(`${name} ${found.length ? 'repeated' : 'missing'}`);
  const element = found[0] as Tlv;
  if (size?.min !== undefined && element.value.length < size.min) throw new TlvError(`${name} too short`);
  if (size?.max !== undefined && element.value.length > size.max) throw new TlvError(`${name} too long`);
  return element;
}
