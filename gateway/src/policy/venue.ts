import { type DecisionFlag, type DenyReason, verifyCardCertificate } from '@educard/terminal-sdk';
import type { HotlistView } from '../hotlist/index.js';
import { certificateDay, provesChallenge } from './certificate.js';
import type { ClockReading, PresentedCard } from './decide.js';
import { localTime } from './local-time.js';

/** What a venue trusts a card by, instead of a roster. */
export interface CertifiedCardTrust {
  /** The card issuers' keys by key id: the `cardIssuers` role of the key set in force. */
  issuers: ReadonlyMap<string, Uint8Array>;
  hotlist: HotlistView | undefined;
  /** Whether a UID is a genuine CPU card's that this venue has seen: a UID alone that matches one is a copy. */
  genuineUid(uid: string): boolean;
}

export interface CertifiedCardRules {
  /** The venue's time zone: a certificate's validity days are its days. */
  timeZone: string;
  /** How long after the hotlist in force expired cards are still checked against it, flagged `hotlist-grace`. */
  hotlistGraceMs: number;
  /**
   * With a clock before the time floor: refuse everyone, or check what needs no time (the chain, the
   * challenge, the hotlist) and admit flagged `clock-fallback`.
   */
  clockUntrusted: 'deny-all' | 'ignore-time';
}

/** A venue's verdict on a card, before its own rules (hours, capacity, class visits). */
export interface VenueDecision {
  decision: 'grant' | 'deny';
  reason: 'ok' | DenyReason;
  flags: DecisionFlag[];
  /** The card number it proved, or the UID of a card that showed nothing more. */
  cardId: string;
  credential: 'uid' | 'edu-cpu';
  /** The key id of the issuer its certificate names. */
  issuer?: string;
}

/** Refusals of a genuine card that say nothing against its holder leaving: an exit still opens for them. */
export const GENUINE_CARD_REASONS: ReadonlySet<VenueDecision['reason']> = new Set<VenueDecision['reason']>([
  'not-yet-valid',
  'expired',
  'lost',
  'cancelled',
  'suspended',
  'no-hotlist',
  'hotlist-stale',
  'clock-untrusted',
]);

/**
 * Whether a card is genuine, valid and not revoked, from what it proves alone (docs/venues.md): its
 * certificate is signed by an issuer the key set names, it signed this tap's challenge with the key
 * its certificate binds, today is within the certificate's days, and the hotlist in force does not
 * list it. Pure: it reads its arguments and changes none of them.
 */
export function checkCertifiedCard(
  presented: PresentedCard,
  trust: CertifiedCardTrust,
  clock: ClockReading,
  rules: CertifiedCardRules,
): VenueDecision {
  const { proof } = presented;
  if (!proof) {
    const reason =
      presented.failure ?? (trust.genuineUid(presented.uid) ? 'card-auth-failed' : 'uid-only-card');
    return { decision: 'deny', reason, flags: [], cardId: presented.uid, credential: 'uid' };
  }
  const flags: DecisionFlag[] = [];
  const certificate = proof.certificate;
  const issuer = certificate?.issuerKeyId;
  const verdict = (reason: VenueDecision['reason']): VenueDecision => ({
    decision: reason === 'ok' ? 'grant' : 'deny',
    reason,
    flags,
    cardId: proof.cardNumber,
    credential: 'edu-cpu',
    ...(issuer ? { issuer } : {}),
  });
  if (presented.failure) return verdict(presented.failure);
  if (!certificate || certificate.cardNumber !== proof.cardNumber) return verdict('card-auth-failed');
  const issuerKey = trust.issuers.get(certificate.issuerKeyId);
  if (!issuerKey) return verdict('unknown-issuer');
  if (!verifyCardCertificate(certificate, issuerKey) || !provesChallenge(proof, certificate.publicKey))
    return verdict('card-auth-failed');

  const timeTrusted = clock.trusted;
  if (!timeTrusted) {
    if (rules.clockUntrusted === 'deny-all') return verdict('clock-untrusted');
    flags.push('clock-fallback');
  } else {
    const day = certificateDay(certificate, localTime(clock.now, rules.timeZone).date);
    if (day !== 'valid') return verdict(day);
  }

  const hotlist = trust.hotlist;
  if (!hotlist) return verdict('no-hotlist');
  if (timeTrusted && clock.now > hotlist.expiresAt) {
    if (clock.now > hotlist.expiresAt + rules.hotlistGraceMs) return verdict('hotlist-stale');
    flags.push('hotlist-grace');
  }
  return verdict(hotlist.table.lookup(proof.cardNumber) ?? 'ok');
}
