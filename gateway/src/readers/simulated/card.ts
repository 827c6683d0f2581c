import { randomBytes } from 'node:crypto';
import {
  type CardCertificate,
  type CardProof,
  cardAuthMessage,
  ed25519,
  fromBase64Url,
  parseCardCertificate,
} from '@educard/terminal-sdk';
import { z } from 'zod';
import type { CardPresented } from '../types.js';

/** Faults a simulated card can play, after the real failures of contactless cards. */
export const CARD_FAULTS = ['none', 'garbage', 'removed-mid-exchange', 'wrong-key'] as const;

export const SimulatedCard = z.object({
  uid: z.string().regex(/^[0-9A-F]{8,20}$/),
  /**
   * A CPU card: its number and the 32-byte seed of its key, in base64url or hex; and, as a venue needs
   * it, its issuer's certificate (the `7F21` element, base64url or hex).
   */
  cpu: z
    .object({
      cardNumber: z.string().min(1).max(64),
      seed: z.string().min(43).max(64),
      certificate: z.string().min(1).max(1024).optional(),
    })
    .optional(),
  fault: z.enum(CARD_FAULTS).default('none'),
});
export type SimulatedCard = z.input<typeof SimulatedCard>;

/** Bytes given in hex or in base64url. */
function bytesOf(text: string): Uint8Array {
  return /^(?:[0-9a-f]{2})+$/i.test(text) ? new Uint8Array(Buffer.from(text, 'hex')) : fromBase64Url(text);
}

/**
 * Runs the card side of the EDU CPU challenge-response in memory: the gateway's fresh challenge is
 * signed with the card's key, as the card's applet would.
 */
export function presentSimulated(reader: string, input: SimulatedCard, detectedAt: number): CardPresented {
  const card = SimulatedCard.parse(input);
  const base = { reader, uid: card.uid, detectedAt };
  if (card.fault === 'garbage') return { ...base, failure: 'card-unreadable' };
  if (card.fault === 'removed-mid-exchange') return { ...base, failure: 'card-removed' };
  if (!card.cpu) return base;
  const challenge = new Uint8Array(randomBytes(16));
  const seed = card.fault === 'wrong-key' ? new Uint8Array(32).fill(0x55) : bytesOf(card.cpu.seed);
  let certificate: CardCertificate | undefined;
  try {
    certificate = card.cpu.certificate ? parseCardCertificate(bytesOf(card.cpu.certificate)) : undefined;
  } catch {
    return { ...base, failure: 'card-unreadable' };
  }
  const proof: CardProof = {
    cardNumber: card.cpu.cardNumber,
    challenge,
    signature: ed25519.sign(cardAuthMessage(challenge, card.cpu.cardNumber), seed),
    ...(certificate ? { certificate } : {}),
  };
  return { ...base, proof };
}

/** The simulated card that holds an EDU applet (a virtual card's `edu`), with the UID its reader reports. */
export function simulatedCpuCard(
  uid: string,
  applet: { cardNumber: string; seed: Uint8Array; certificate: Uint8Array },
): SimulatedCard {
  return {
    uid,
    cpu: {
      cardNumber: applet.cardNumber,
      seed: Buffer.from(applet.seed).toString('hex'),
      certificate: Buffer.from(applet.certificate).toString('hex'),
    },
  };
}
