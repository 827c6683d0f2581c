/** What a label reads once its set of values is full. */
export const OTHER_LABEL = 'other';

/**
 * A metric label whose values come from text the program does not fix (a station's refusal reason,
 * an alarm kind another part raised): the first `limit` distinct values are kept as they are, any
 * later one reads `other`, so a peer or a bug cannot grow a time series per value. Identifiers of
 * people and cards never go through here: they are never labels at all.
 */
export function boundedLabel(limit: number): (value: string) => string {
  const seen = new Set<string>();
  return (value) => {
    if (seen.has(value)) return value;
    if (seen.size >= limit) return OTHER_LABEL;
    seen.add(value);
    return value;
  };
}
