import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519, generateKeyPair } from '../crypto/ed25519.js';
import {
  authenticateCommand,
  cardAuthMessage,
  encodeAuthResponse,
  issueCardCertificate,
  parseAuthResponse,
  parseCardCertificate,
  SELECT_EDU_APPLICATION,
  splitResponse,
  verifyCardCertificate,
} from './edu-card.js';
import { decodeTlvs, encodeTlv, TlvError } from './tlv.js';

const issuer = generateKeyPair();
const card = generateKeyPair();
const certificate = issueCardCertificate({
  cardNumber: 'EDU-0001',
  publicKey: card.publicKey,
  issuer,
  notBefore: '2026-09-01',
  notAfter: '2032-08-31',
});

describe('EDU card profile', () => {
  it('writes the commands byte for byte as docs/card-profile.md gives them', () => {
    expect(Buffer.from(SELECT_EDU_APPLICATION).toString('hex')).toBe('00a4040009f0454455434152440100');
    const challenge = new Uint8Array(16).fill(0xab);
    expect(Buffer.from(authenticateCommand(challenge)).toString('hex')).toBe(
      `8088000010${'ab'.repeat(16)}00`,
    );
    expect(() => authenticateCommand(new Uint8Array(8))).toThrow(/16 bytes/);
  });

  it('round-trips an answer to AUTHENTICATE, and the whole answer fits one short APDU', () => {
    const challenge = new Uint8Array(16).fill(7);
    const signature = ed25519.sign(cardAuthMessage(challenge, 'EDU-0001'), card.seed);
    const data = encodeAuthResponse('EDU-0001', certificate, signature);
    expect(data.length).toBeLessThanOrEqual(256 - 2);
    const proof = parseAuthResponse(data, challenge);
    expect(proof.cardNumber).toBe('EDU-0001');
    expect(proof.certificate?.notAfter).toBe('2032-08-31');
    expect(Buffer.from(proof.certificate?.publicKey ?? []).equals(Buffer.from(card.publicKey))).toBe(true);
    expect(
      ed25519.verify(cardAuthMessage(challenge, proof.cardNumber), proof.signature, card.publicKey),
    ).toBe(true);
  });

  it('checks the issuer signature over the certificate body, and nothing else passes', () => {
    const parsed = parseCardCertificate(certificate);
    expect(verifyCardCertificate(parsed, issuer.publicKey)).toBe(true);
    expect(verifyCardCertificate(parsed, generateKeyPair().publicKey)).toBe(false);
    const altered = Uint8Array.from(certificate);
    altered[30] = (altered[30] as number) ^ 1;
    let verdict: boolean;
    try {
      verdict = verifyCardCertificate(parseCardCertificate(altered), issuer.publicKey);
    } catch (error) {
      verdict = !(error instanceof TlvError);
    }
    expect(verdict).toBe(false);
  });

  it('refuses an answer whose certificate names another card', () => {
    const data = encodeAuthResponse('EDU-0002', certificate, new Uint8Array(64));
    expect(() => parseAuthResponse(data, new Uint8Array(16))).toThrow(/another card number/);
  });

  it('throws TlvError, never anything else, on any garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        try {
          parseAuthResponse(bytes, new Uint8Array(16));
        } catch (error) {
          expect(error).toBeInstanceOf(TlvError);
        }
      }),
      { numRuns: 3000 },
    );
    // Truncations of a good answer: every one is refused as malformed.
    const good = encodeAuthResponse('EDU-0001', certificate, new Uint8Array(64));
    for (let cut = 0; cut < good.length; cut++) {
      expect(() => parseAuthResponse(good.subarray(0, cut), new Uint8Array(16))).toThrow(TlvError);
    }
  });

  it('encodes and decodes BER-TLV lengths in all three forms, and splits status words', () => {
    for (const size of [0, 127, 128, 255, 256, 1000]) {
      const [element] = decodeTlvs(encodeTlv(0x5f20, new Uint8Array(size)));
      expect(element?.tag).toBe(0x5f20);
      expect(element?.value.length).toBe(size);
    }
    expect(splitResponse(Uint8Array.from([1, 2, 0x90, 0x00]))).toEqual({
      data: Uint8Array.from([1, 2]),
      sw: 0x9000,
    });
    expect(() => splitResponse(Uint8Array.of(0x90))).toThrow(TlvError);
  });
});
