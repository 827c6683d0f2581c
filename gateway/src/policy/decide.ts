import {
  type CardCertificate,
  type CardEntry,
  type CardProof,
  type DecisionFlag,
  type DenyReason,
  type Direction,
  fromBase64Url,
} from '@educard/terminal-sdk';
import type { RosterView } from '../roster/index.js';
import { certificateDay, provesChallenge } from './certificate.js';
import type { PolicyConfig } from './config.js';
import { localTime } from './local-time.js';
import type { PassbackState } from './passback.js';
import { scheduleAllows } from './schedule.js';

/** A card as the reader saw it: its UID, and for a CPU card the card profile's proof or failure. */
export interface PresentedCard {
  uid: string;
  proof?: CardProof;
  failure?: 'card-unreadable' | 'card-removed' | 'card-auth-failed';
}

export interface TapPlace {
  zone: string;
  direction: Direction;
  /** The gate is in lockdown: its switch is on, or the bridge ordered its school's lockdown. */
  lockdown?: boolean;
}

export interface ClockReading {
  now: number;
  /** False when the clock is before the persisted time floor or the roster's issue time. */
  trusted: boolean;
}

export interface Decision {
  decision: 'grant' | 'deny';
  reason: 'ok' | DenyReason;
  flags: DecisionFlag[];
  /** The roster's card id when the card is known, otherwise the UID or the card number presented. */
  cardId: string;
  credential: 'uid' | 'edu-cpu';
  card?: CardEntry;
}

const STAFF_ROLES = new Set(['teacher', 'staff']);

function deny(
  reason: DenyReason,
  cardId: string,
  credential: Decision['credential'],
  card?: CardEntry,
  flags: DecisionFlag[] = [],
): Decision {
  return card
    ? { decision: 'deny', reason, flags, cardId, credential, card }
    : { decision: 'deny', reason, flags, cardId, credential };
}

/**
 * The roster's binding of card number to key is what the gateway trusts; a certificate the card
 * shows must agree with it and be in its validity days (school-local dates compared as UTC days: a
 * day's slack either way is harmless next to the roster's own validity).
 */
function certificateFits(
  certificate: CardCertificate | undefined,
  cardNumber: string,
  publicKey: Uint8Array,
  now: number,
): boolean {
  if (!certificate) return true;
  return (
    certificate.cardNumber === cardNumber &&
    Buffer.from(certificate.publicKey).equals(Buffer.from(publicKey)) &&
    certificateDay(certificate, new Date(now).toISOString().slice(0, 10)) === 'valid'
  );
}

/** Finds the roster entry a presented card proves, or the reason it proves none. */
function identify(
  presented: PresentedCard,
  roster: RosterView,
  now: number,
): { card: CardEntry } | { reason: DenyReason; card?: CardEntry } {
  const { proof } = presented;
  if (proof) {
    const card = roster.byCardId(proof.cardNumber);
    if (!card) return { reason: 'unknown-card' };
    if (card.credential.kind !== 'edu-cpu') return { reason: 'card-auth-failed', card };
    const publicKey = fromBase64Url(card.credential.publicKey);
    const good =
      certificateFits(proof.certificate, proof.cardNumber, publicKey, now) &&
      provesChallenge(proof, publicKey);
    return good ? { card } : { reason: 'card-auth-failed', card };
  }
  const card = roster.byUid(presented.uid);
  if (!card) return { reason: 'unknown-card' };
  // A CPU card must prove itself: a UID alone that matches one is a copy.
  if (card.credential.kind === 'edu-cpu') return { reason: 'card-auth-failed', card };
  return { card };
}

/**
 * The gate decision, with its reason. Pure: it reads the roster, the clock reading and the
 * anti-passback state, and changes none of them.
 */
export function decide(
  presented: PresentedCard,
  place: TapPlace,
  roster: RosterView | undefined,
  clock: ClockReading,
  passback: PassbackState,
  config: PolicyConfig,
): Decision {
  const credential = presented.proof ? 'edu-cpu' : 'uid';
  const presentedId = presented.proof?.cardNumber ?? presented.uid;
  if (presented.failure) return deny(presented.failure, presentedId, credential);
  if (!roster) return deny('no-roster', presentedId, credential);

  const found = identify(presented, roster, clock.now);
  if ('reason' in found) return deny(found.reason, found.card?.cardId ?? presentedId, credential, found.card);
  const { card } = found;
  const flags: DecisionFlag[] = credential === 'uid' ? ['uid-only'] : [];
  const refuse = (reason: DenyReason) => deny(reason, card.cardId, credential, card, flags);

  if (card.status !== 'active') return refuse(card.statusReason ?? card.status);

  const staff = STAFF_ROLES.has(card.role);
  const timeTrusted = clock.trusted && clock.now >= roster.issuedAt;
  if (!timeTrusted) {
    if (config.clockUntrusted === 'deny-all' || (config.clockUntrusted === 'staff-only' && !staff)) {
      return refuse('clock-untrusted');
    }
    flags.push('clock-fallback');
  } else {
    const { now } = clock;
    if (now > roster.expiresAt) {
      const graceOver = now > roster.expiresAt + config.rosterExpired.graceMs;
      if (config.rosterExpired.mode === 'deny-all' || !staff || graceOver) return refuse('roster-stale');
      flags.push('roster-grace');
    }
    if (now < Date.parse(card.validFrom)) return refuse('not-yet-valid');
    if (now > Date.parse(card.validUntil)) return refuse('expired');
  }

  if (!card.zones.includes(place.zone)) return refuse('not-in-zone');
  if (place.lockdown && place.direction === 'in' && (config.lockdown === 'deny-all' || !staff))
    return refuse('lockdown');

  if (timeTrusted && card.schedules.length > 0) {
    const local = localTime(clock.now, roster.calendar.timeZone);
    const allowed = card.schedules.some((id) => {
      const schedule = roster.schedule(id);
      return schedule !== undefined && scheduleAllows(schedule, roster.calendar, local);
    });
    if (!allowed) return refuse('outside-schedule');
  }

  if (
    config.passback.mode !== 'off' &&
    passback.repeats(card.personId, place.zone, place.direction, clock.now, config.passback.windowMs)
  ) {
    if (config.passback.mode === 'hard') return refuse('passback');
    flags.push('passback-soft');
  }
  return { decision: 'grant', reason: 'ok', flags, cardId: card.cardId, credential, card };
}
