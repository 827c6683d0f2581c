import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FieldCodec, publicKeyCodec, textCodec, uidCodec } from './field-codecs.js';

/** What a codec holds for `text` and reads back, or undefined when it has no held form. */
function roundTrip(codec: FieldCodec, text: string): string | undefined {
  const into = Buffer.alloc(codec.room(text.length) + 3, 0xee);
  const length = codec.write(text, into, 3);
  return length < 0 ? undefined : codec.read(into, 3, 3 + length);
}

const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length });
const hashedUid = bytes(16).map((b) => `~${Buffer.from(b).toString('base64url')}`);
const clearUid = fc
  .constantFrom(4, 7, 10)
  .chain(bytes)
  .map((b) => Buffer.from(b).toString('hex').toUpperCase());
const publicKey = bytes(32).map((b) => Buffer.from(b).toString('base64url'));

describe('field codecs', () => {
  it('read back every UID, public key and text exactly as written, in fewer bytes for UIDs and keys', () => {
    fc.assert(
      fc.property(
        hashedUid,
        clearUid,
        publicKey,
        fc.string({ unit: 'grapheme', maxLength: 64 }),
        (h, c, k, t) => {
          expect(roundTrip(uidCodec, h)).toBe(h);
          expect(roundTrip(uidCodec, c)).toBe(c);
          expect(roundTrip(publicKeyCodec, k)).toBe(k);
          expect(roundTrip(textCodec, t)).toBe(t);
          expect(uidCodec.write(h, Buffer.alloc(32), 0)).toBe(16);
          expect(uidCodec.write(c, Buffer.alloc(32), 0)).toBe(c.length / 2);
          expect(publicKeyCodec.write(k, Buffer.alloc(32), 0)).toBe(32);
        },
      ),
    );
    expect(roundTrip(uidCodec, '')).toBe('');
    expect(roundTrip(publicKeyCodec, '')).toBe('');
  });

  it('find no held form for a spelling that would read back as another text', () => {
    const key = Buffer.alloc(32, 7).toString('base64url');
    const hashed = `~${Buffer.alloc(16, 9).toString('base64url')}`;
    for (const uid of [
      '04a1b2c3', // lower-case hex
      '04A1B2C', // odd length
      '04A1B2C3D5', // five bytes: not a UID length
      '04A1B2G3',
      `${hashed.slice(0, -1)}B`, // bits set past the 16th byte
      `${hashed}A`,
      hashed.slice(0, -1),
      `~${'+'.repeat(22)}`, // base64, not base64url
      `~${'é'.repeat(22)}`,
    ])
      expect(roundTrip(uidCodec, uid), uid).toBeUndefined();
    for (const text of [`${key.slice(0, -1)}B`, key.slice(1), `${key}A`, key.replace(/./, '/')])
      expect(roundTrip(publicKeyCodec, text), text).toBeUndefined();
  });
});
