/**
 * The only form in which a card id may reach a log, a report or a screen other than the card's own
 * record: its last four characters, the rest starred (at most six stars); an id of four characters or
 * fewer is starred whole. The gateway and the bridge both show card ids by it.
 */
export function maskCardId(cardId: string): string {
  if (cardId.length <= 4) return '*'.repeat(cardId.length);
  return `${'*'.repeat(Math.min(cardId.length - 4, 6))}${cardId.slice(-4)}`;
}

/**
 * A request path as a log line may show it: the segment after each `/cards/` (a card id in the API's
 * paths) masked, and a `card` query value too.
 */
export function maskCardPath(url: string): string {
  return url
    .replace(
      /(\/cards\/)([^/?#]+)/g,
      (_all, prefix: string, id: string) => prefix + maskCardId(decodeURIComponent(id)),
    )
    .replace(
      /([?&]card=)([^&#]+)/g,
      (_all, prefix: string, id: string) => prefix + maskCardId(decodeURIComponent(id)),
    );
}
