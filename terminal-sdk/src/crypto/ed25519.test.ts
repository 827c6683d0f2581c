import { describe, expect, it } from 'vitest';
import { type Ed25519, nativeEd25519, tweetnaclEd25519 } from './ed25519.js';

const hex = (text: string) => new Uint8Array(Buffer.from(text, 'hex'));

/** RFC 8032, section 7.1, tests 1 to 3. */
const VECTORS = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    publicKey: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    message: 'af82',
    signature:
      '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
];

describe.each<Ed25519>([nativeEd25519, tweetnaclEd25519])('Ed25519 ($name)', (impl) => {
  it.each(VECTORS)('derives the public key and signs RFC 8032 vector $publicKey', async (vector) => {
    expect(Buffer.from(impl.keyPairFromSeed(hex(vector.seed)).publicKey).toString('hex')).toBe(
      vector.publicKey,
    );
    expect(Buffer.from(impl.sign(hex(vector.message), hex(vector.seed))).toString('hex')).toBe(
      vector.signature,
    );
    expect(impl.verify(hex(vector.message), hex(vector.signature), hex(vector.publicKey))).toBe(true);
    await expect(
      impl.verifyInPool(hex(vector.message), hex(vector.signature), hex(vector.publicKey)),
    ).resolves.toBe(true);
  });

  it('refuses a signature with one bit flipped, a wrong key and malformed lengths', async () => {
    const [vector] = VECTORS.slice(1);
    if (!vector) throw new Error('no vector');
    const signature = hex(vector.signature);
    signature[10] = (signature[10] ?? 0) ^ 1;
    expect(impl.verify(hex(vector.message), signature, hex(vector.publicKey))).toBe(false);
    expect(impl.verify(hex(vector.message), hex(vector.signature), hex(VECTORS[0]?.publicKey ?? ''))).toBe(
      false,
    );
    expect(impl.verify(hex(vector.message), hex(vector.signature).subarray(1), hex(vector.publicKey))).toBe(
      false,
    );
    expect(impl.verify(hex(vector.message), hex(vector.signature), hex(vector.publicKey).subarray(1))).toBe(
      false,
    );
    await expect(impl.verifyInPool(hex(vector.message), signature, hex(vector.publicKey))).resolves.toBe(
      false,
    );
    await expect(
      impl.verifyInPool(hex(vector.message), hex(vector.signature), hex(VECTORS[0]?.publicKey ?? '')),
    ).resolves.toBe(false);
    await expect(
      impl.verifyInPool(hex(vector.message), hex(vector.signature).subarray(1), hex(vector.publicKey)),
    ).resolves.toBe(false);
  });

  it('verifies what the other implementation signed', () => {
    const other = impl === nativeEd25519 ? tweetnaclEd25519 : nativeEd25519;
    const seed = new Uint8Array(32).fill(7);
    const message = new TextEncoder().encode('a tap at the school gate');
    const pair = other.keyPairFromSeed(seed);
    expect(impl.verify(message, other.sign(message, seed), pair.publicKey)).toBe(true);
  });

  it('signs with the seed as it is now, when the same array is signed with again after a change', () => {
    const [first, second] = VECTORS as [(typeof VECTORS)[0], (typeof VECTORS)[0]];
    const seed = hex(first.seed);
    expect(Buffer.from(impl.sign(hex(first.message), seed)).toString('hex')).toBe(first.signature);
    seed.set(hex(second.seed));
    expect(Buffer.from(impl.sign(hex(second.message), seed)).toString('hex')).toBe(second.signature);
  });
});
