import { type CardCertificate, type CardProof, cardAuthMessage, ed25519 } from '@educard/terminal-sdk';

/** Whether the card signed this tap's challenge (with its own number) under `publicKey`. */
export function provesChallenge(proof: CardProof, publicKey: Uint8Array): boolean {
  return ed25519.verify(cardAuthMessage(proof.challenge, proof.cardNumber), proof.signature, publicKey);
}

/** Where `today` (YYYY-MM-DD) falls against a certificate's validity days. */
export function certificateDay(
  certificate: Pick<CardCertificate, 'notBefore' | 'notAfter'>,
  today: string,
): 'valid' | 'not-yet-valid' | 'expired' {
  if (today < certificate.notBefore) return 'not-yet-valid';
  return today > certificate.notAfter ? 'expired' : 'valid';
}
