import { type CardEntry, VenueVisitData } from '@educard/terminal-sdk';
import type { DirectoryPerson } from '../directory/index.js';
import type { GrowthVisit, PushedEvent } from './contract.js';

/**
 * The growth-record entry a pushed event makes, if any: a first admission to a venue that day (a
 * re-entry is the same visit). The card is mapped to its person where the card is on one of this
 * district's rosters and the person is in the directory; a card of another district is forwarded by
 * its number, for the central system to route.
 */
export function growthRecordOf(
  event: PushedEvent,
  lookup: {
    card: (cardId: string) => CardEntry | undefined;
    person: (personId: string) => DirectoryPerson | undefined;
  },
): GrowthVisit | undefined {
  if (event.type !== 'venue.visit') return undefined;
  const data = VenueVisitData.safeParse(event.data);
  if (!data.success || data.data.reentry) return undefined;
  const visit = data.data;
  const card = lookup.card(visit.cardId);
  const person = card ? lookup.person(card.personId) : undefined;
  return {
    kind: 'venue-visit',
    id: `${event.device}:${event.seq}`,
    site: event.school,
    venue: visit.venue,
    day: visit.day,
    enteredAt: event.at,
    cardId: visit.cardId,
    issuer: visit.issuer,
    ...(visit.booking ? { booking: visit.booking } : {}),
    ...(visit.teacher ? { teacher: true } : {}),
    routing: card ? 'district' : 'forward',
    ...(card ? { personId: card.personId, school: card.school, role: card.role } : {}),
    ...(person?.studentNumber ? { studentNumber: person.studentNumber } : {}),
  };
}
