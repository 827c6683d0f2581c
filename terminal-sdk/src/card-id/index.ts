/**
 * The only form in which a card id may reach a log, a report or a screen other than the card's own
 * record: its last four characters, the rest starred (at most six stars); an id of four characters or
 * fewer is starred whole. The gateway and the bridge both show card ids by it.
 */
export function maskCardId(cardId: string): string {
  if (cardId.length <= 4) return '*'.repeat(cardId.length);
  return `${'*'.repeat(Math.min(cardId.length - 4, 6))}${cardId.slice(-4)}`;
}
