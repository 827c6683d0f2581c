/** A transfer asked for through the API or the CLI (districts without a change feed). */
export interface TransferRequest {
  personId: string;
  /** The school the person moves to. */
  to: string;
  /** Their first day there (YYYY-MM-DD, today or earlier); today when absent. */
  on?: string;
  /** Their class at the new school; without it they have none there until one is given. */
  class?: string;
  /** Who asked. */
  actor: string;
}

/**
 * What is wrong with a transfer's date, if anything: a transfer takes effect when it is made, so its
 * date is today or earlier at the new school (`today`); and a person's transfers follow one another,
 * so it is not before their latest (`previous`).
 */
export function transferDateProblem(
  date: string,
  school: string,
  today: string,
  previous: string | undefined,
): string | undefined {
  if (date > today) return `transfer date ${date} is after today (${today}) at school ${school}`;
  if (previous !== undefined && date < previous)
    return `transfer date ${date} is before the person's previous transfer (${previous})`;
  return undefined;
}
