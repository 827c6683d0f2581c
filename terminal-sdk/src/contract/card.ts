/** The domain separator a card signs before the challenge, so a card signature is good for nothing else. */
export const CARD_AUTH_DOMAIN = 'EDUCARD-AUTH-V1';

/**
 * The bytes an EDU CPU card signs: the domain, the card's own number, and the gateway's fresh
 * challenge. Binding the card number stops a signature from one card being replayed for another.
 */
export function cardAuthMessage(challenge: Uint8Array, cardNumber: string): Uint8Array {
  return Buffer.concat([Buffer.from(`${CARD_AUTH_DOMAIN}\0${cardNumber}\0`, 'ascii'), challenge]);
}

/** What a card profile hands the gateway for a CPU card: checked against the roster by the policy. */
export interface CardProof {
  cardNumber: string;
  challenge: Uint8Array;
  signature: Uint8Array;
}
