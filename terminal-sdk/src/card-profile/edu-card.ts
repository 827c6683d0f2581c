import { type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { keyIdOf } from '../crypto/encoding.js';
import { concatBytes, decodeTlvs, encodeTlv, requireTlv, TlvError } from './tlv.js';

/**
 * The EDU CPU card profile (docs/card-profile.md is its specification). A tap costs two APDUs:
 * SELECT the application, then one AUTHENTICATE whose answer carries everything the gateway needs
 * (card number, certificate, signature over the gateway's challenge). Every round trip costs time on
 * the reader (about 45 ms through vpcd, a few ms on a real card), so nothing is read separately.
 */

/** A proprietary AID (first nibble F: not registered with ISO): "EDUCARD" and the profile version 1. */
export const EDU_AID = Uint8Array.from([0xf0, 0x45, 0x44, 0x55, 0x43, 0x41, 0x52, 0x44, 0x01]);
export const CHALLENGE_BYTES = 16;
export const MAX_CARD_NUMBER_BYTES = 32;

/** Status words of ISO/IEC 7816-4 the profile uses. */
export const SW = {
  OK: 0x9000,
  WRONG_LENGTH: 0x6700,
  CONDITIONS_NOT_SATISFIED: 0x6985,
  WRONG_DATA: 0x6a80,
  APPLICATION_NOT_FOUND: 0x6a82,
  WRONG_P1P2: 0x6a86,
  INS_NOT_SUPPORTED: 0x6d00,
  CLA_NOT_SUPPORTED: 0x6e00,
  NO_PRECISE_DIAGNOSIS: 0x6f00,
} as const;

/** Tags, after ISO/IEC 7816-8 card-verifiable certificates where one fits. */
export const TAG = {
  CARD_NUMBER: 0x5a,
  CERTIFICATE: 0x7f21,
  PROFILE: 0x5f29,
  ISSUER: 0x42,
  HOLDER: 0x5f20,
  PUBLIC_KEY: 0x7f49,
  ED25519_KEY: 0x86,
  NOT_BEFORE: 0x5f25,
  NOT_AFTER: 0x5f24,
  ISSUER_SIGNATURE: 0x5f37,
  CARD_SIGNATURE: 0x9e,
} as const;

export const CERTIFICATE_PROFILE = 0x01;

/** SELECT by AID, first or only occurrence, FCI requested (`00 A4 04 00 09 <AID> 00`). */
export const SELECT_EDU_APPLICATION = Uint8Array.from([
  0x00,
  0xa4,
  0x04,
  0x00,
  EDU_AID.length,
  ...EDU_AID,
  0x00,
]);

/** PC/SC part 3 GET DATA for the UID, answered by the reader itself (`FF CA 00 00 00`). */
export const GET_UID = Uint8Array.from([0xff, 0xca, 0x00, 0x00, 0x00]);

/** AUTHENTICATE (`80 88 00 00 10 <challenge> 00`): proprietary class, INTERNAL AUTHENTICATE's INS. */
export function authenticateCommand(challenge: Uint8Array): Uint8Array {
  if (challenge.length !== CHALLENGE_BYTES) throw new RangeError(`a challenge is ${CHALLENGE_BYTES} bytes`);
  return Uint8Array.from([0x80, 0x88, 0x00, 0x00, CHALLENGE_BYTES, ...challenge, 0x00]);
}

/** A response APDU split into its data and its status word. */
export function splitResponse(response: Uint8Array): { data: Uint8Array; sw: number } {
  if (response.length < 2) throw new TlvError(`a response of ${response.length} bytes has no status word`);
  const n = response.length;
  return {
    data: response.subarray(0, n - 2),
    sw: ((response[n - 2] as number) << 8) | (response[n - 1] as number),
  };
}

export function withStatus(data: Uint8Array, sw: number): Uint8Array {
  return concatBytes(data, Uint8Array.from([sw >> 8, sw & 0xff]));
}

/** The bytes a card signs: the domain, the card's own number, and the gateway's fresh challenge. */
export const CARD_AUTH_DOMAIN = 'EDUCARD-AUTH-V1';
export function cardAuthMessage(challenge: Uint8Array, cardNumber: string): Uint8Array {
  return concatBytes(new TextEncoder().encode(`${CARD_AUTH_DOMAIN}\0${cardNumber}\0`), challenge);
}

export interface CardCertificate {
  cardNumber: string;
  publicKey: Uint8Array;
  /** keyIdOf the issuer's public key: 16 hex digits. */
  issuerKeyId: string;
  /** First and last day of validity, YYYY-MM-DD. */
  notBefore: string;
  notAfter: string;
  /** The certificate body the issuer signed (every element before the signature, as encoded). */
  body: Uint8Array;
  issuerSignature: Uint8Array;
}

/** What a card profile hands the gateway for a CPU card: checked against the roster by the policy. */
export interface CardProof {
  cardNumber: string;
  challenge: Uint8Array;
  signature: Uint8Array;
  certificate?: CardCertificate;
}

const ascii = (text: string) => new TextEncoder().encode(text);
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const dateBytes = (date: string) => {
  if (!DATE.test(date)) throw new RangeError(`not a YYYY-MM-DD date: ${date}`);
  return ascii(date.replaceAll('-', ''));
};
const dateText = (bytes: Uint8Array) => {
  const text = new TextDecoder().decode(bytes);
  if (!/^\d{8}$/.test(text)) throw new TlvError('a certificate date is not YYYYMMDD');
  return `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}`;
};

function cardNumberBytes(cardNumber: string): Uint8Array {
  const bytes = ascii(cardNumber);
  if (!/^[\x21-\x7e]+$/.test(cardNumber) || bytes.length > MAX_CARD_NUMBER_BYTES)
    throw new RangeError(`a card number is 1 to ${MAX_CARD_NUMBER_BYTES} printable ASCII characters`);
  return bytes;
}

/** The card's certificate, signed by the issuer: the `7F21` element the card keeps and hands out. */
export function issueCardCertificate(options: {
  cardNumber: string;
  publicKey: Uint8Array;
  issuer: Ed25519KeyPair;
  notBefore: string;
  notAfter: string;
}): Uint8Array {
  const body = concatBytes(
    encodeTlv(TAG.PROFILE, Uint8Array.of(CERTIFICATE_PROFILE)),
    encodeTlv(TAG.ISSUER, Buffer.from(keyIdOf(options.issuer.publicKey), 'hex')),
    encodeTlv(TAG.HOLDER, cardNumberBytes(options.cardNumber)),
    encodeTlv(TAG.PUBLIC_KEY, encodeTlv(TAG.ED25519_KEY, options.publicKey)),
    encodeTlv(TAG.NOT_BEFORE, dateBytes(options.notBefore)),
    encodeTlv(TAG.NOT_AFTER, dateBytes(options.notAfter)),
  );
  const signature = ed25519.sign(body, options.issuer.seed);
  return encodeTlv(TAG.CERTIFICATE, concatBytes(body, encodeTlv(TAG.ISSUER_SIGNATURE, signature)));
}

export function parseCardCertificate(element: Uint8Array): CardCertificate {
  const [outer, ...rest] = decodeTlvs(element);
  if (!outer || rest.length || outer.tag !== TAG.CERTIFICATE) throw new TlvError('not a 7F21 certificate');
  const parts = decodeTlvs(outer.value);
  const profile = requireTlv(parts, TAG.PROFILE, { min: 1, max: 1 });
  if (profile.value[0] !== CERTIFICATE_PROFILE)
    throw new TlvError(`certificate profile ${profile.value[0]} unknown`);
  const signature = requireTlv(parts, TAG.ISSUER_SIGNATURE, { min: 64, max: 64 });
  if (parts.at(-1) !== signature) throw new TlvError('the issuer signature must close the certificate');
  const key = decodeTlvs(requireTlv(parts, TAG.PUBLIC_KEY).value);
  const body = outer.value.subarray(0, outer.value.length - signature.raw.length);
  return {
    cardNumber: new TextDecoder().decode(
      requireTlv(parts, TAG.HOLDER, { min: 1, max: MAX_CARD_NUMBER_BYTES }).value,
    ),
    publicKey: requireTlv(key, TAG.ED25519_KEY, { min: 32, max: 32 }).value,
    issuerKeyId: Buffer.from(requireTlv(parts, TAG.ISSUER, { min: 8, max: 8 }).value).toString('hex'),
    notBefore: dateText(requireTlv(parts, TAG.NOT_BEFORE, { min: 8, max: 8 }).value),
    notAfter: dateText(requireTlv(parts, TAG.NOT_AFTER, { min: 8, max: 8 }).value),
    body,
    issuerSignature: signature.value,
  };
}

export function verifyCardCertificate(certificate: CardCertificate, issuerPublicKey: Uint8Array): boolean {
  return (
    keyIdOf(issuerPublicKey) === certificate.issuerKeyId &&
    ed25519.verify(certificate.body, certificate.issuerSignature, issuerPublicKey)
  );
}

/** The card's side: the data field of its answer to AUTHENTICATE. */
export function encodeAuthResponse(
  cardNumber: string,
  certificate: Uint8Array,
  signature: Uint8Array,
): Uint8Array {
  return concatBytes(
    encodeTlv(TAG.CARD_NUMBER, cardNumberBytes(cardNumber)),
    certificate,
    encodeTlv(TAG.CARD_SIGNATURE, signature),
  );
}

/** The gateway's side: the proof in an answer to AUTHENTICATE. Throws TlvError on anything malformed. */
export function parseAuthResponse(data: Uint8Array, challenge: Uint8Array): CardProof {
  const parts = decodeTlvs(data);
  const cardNumber = new TextDecoder().decode(
    requireTlv(parts, TAG.CARD_NUMBER, { min: 1, max: MAX_CARD_NUMBER_BYTES }).value,
  );
  const certificate = parseCardCertificate(requireTlv(parts, TAG.CERTIFICATE).raw);
  if (certificate.cardNumber !== cardNumber) throw new TlvError('the certificate is for another card number');
  return {
    cardNumber,
    challenge,
    signature: requireTlv(parts, TAG.CARD_SIGNATURE, { min: 64, max: 64 }).value,
    certificate,
  };
}
