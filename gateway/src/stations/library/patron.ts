import type { CardEntry, Patron } from '@educard/terminal-sdk';
import type { ClockReading, Decision } from '../../policy/index.js';
import type { RosterView } from '../../roster/index.js';
import type { LibraryBlock, LibraryRefusal } from './backend.js';

/** By card status, by its reason where it has one (a transfer), and by the gate's deny reason. */
const CARD_BLOCKS: Partial<Record<string, LibraryBlock>> = {
  lost: 'card-lost',
  cancelled: 'card-cancelled',
  suspended: 'card-suspended',
  transferred: 'card-transferred',
};

const CARD_MESSAGES: Record<string, string> = {
  'card-lost': 'the card has been reported lost',
  'card-cancelled': 'the card has been cancelled',
  'card-suspended': 'the card is suspended',
  'card-transferred': 'the pupil has moved to another school; what they borrowed here is still owed here',
  'item-elsewhere': "the item is another school's: it goes back to that school's desk",
  'card-invalid': 'the card is not valid at the library now',
  'unknown-patron': 'no card on the roster for this person',
};

export type Standing =
  | { ok: true; card: CardEntry }
  | { ok: false; reason: LibraryRefusal; card?: CardEntry };

/** Whether a person may use the library in `zone` now, by the roster in force: their card, found by person. */
export function standingOf(
  roster: RosterView | undefined,
  personId: string,
  zone: string,
  reading: ClockReading,
): Standing {
  const card = roster?.byPersonId(personId);
  if (!card) return { ok: false, reason: 'unknown-patron' };
  const block = cardBlock(roster, card, zone, reading);
  return block ? { ok: false, reason: block, card } : { ok: true, card };
}

function cardBlock(
  roster: RosterView | undefined,
  card: CardEntry,
  zone: string,
  reading: ClockReading,
): LibraryBlock | undefined {
  const status = CARD_BLOCKS[card.statusReason ?? card.status];
  if (status) return status;
  if (!card.zones.includes(zone)) return 'card-invalid';
  if (reading.trusted && (!roster || reading.now >= roster.issuedAt)) {
    if (reading.now < Date.parse(card.validFrom) || reading.now > Date.parse(card.validUntil))
      return 'card-invalid';
  }
  return undefined;
}

/** What keeps a tapped card from borrowing, by the policy's decision at the desk. */
export function blockOf(decision: Decision): LibraryBlock | undefined {
  if (decision.decision === 'grant') return undefined;
  return CARD_BLOCKS[decision.reason] ?? 'card-invalid';
}

export function refusalMessage(reason: LibraryRefusal): string {
  return CARD_MESSAGES[reason] ?? reason;
}

/** The patron as the desk's page shows them: a transferred card's status is `transferred`. */
export function patronOf(card: CardEntry): Patron {
  return {
    personId: card.personId,
    role: card.role,
    ...(card.displayName ? { displayName: card.displayName } : {}),
    ...(card.grade ? { grade: card.grade } : {}),
    ...(card.class ? { class: card.class } : {}),
    cardStatus: card.statusReason ?? card.status,
  };
}
