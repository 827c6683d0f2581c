import { randomBytes } from 'node:crypto';
import { type CardProof, cardAuthMessage, ed25519, fromBase64Url } from '@educard/terminal-sdk';
import { z } from 'zod';
import type { CardPresented } from '../types.js';

/** Faults a simulated card can play, after the real failures of contactless cards. */
export const CARD_FAULTS = ['none', 'garbage', 'removed-mid-exchange', 'wrong-key'] as const;

export const SimulatedCard = z.object({
  uid: z.string().regex(/^[0-9A-F]{8,20}$/),
  /** A CPU card: its number and the 32-byte seed of its key, in base64url or hex. */
  cpu: z.object({ cardNumber: z.string().min(1).max(64), seed: z.string().min(43).max(64) }).optional(),
  fault: z.enum(CARD_FAULTS).default('none'),
});
export type SimulatedCard = z.input<typeof SimulatedCard>;

function seedBytes(seed: string): Uint8Array {
  return /^[0-9a-f]{64}$/i.test(seed) ? new Uint8Array(Buffer.from(seed, 'hex')) : fromBase64Url(seed);
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
  const seed = card.fault === 'wrong-key' ? new Uint8Array(32).fill(0x55) : seedBytes(card.cpu.seed);
  const proof: CardProof = {
    cardNumber: card.cpu.cardNumber,
    challenge,
    signature: ed25519.sign(cardAuthMessage(challenge, card.cpu.cardNumber), seed),
  };
  return { ...base, proof };
}
