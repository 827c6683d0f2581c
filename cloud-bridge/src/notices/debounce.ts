/**
 * The debounce rule of parent notices (docs/notices.md). A pupil's passages closer than `debounceMs`
 * to the burst they join make one burst; a burst settles once `debounceMs` has passed after its latest
 * passage, and gives one notice: the direction, time and device of that latest passage (where the
 * pupil is now). Two taps in a row, or in-out-in within the window, are one notice.
 *
 * Passages can arrive late (a gate that was offline). One that falls inside the open burst's window
 * joins it; one older than what the parent was already told, or older than the open burst's window,
 * is stale: telling it now would contradict a newer notice.
 */

export interface Passage {
  eventId: number;
  school: string;
  personId: string;
  /** ISO UTC, as stored. */
  at: string;
  direction: 'in' | 'out';
  device: string;
}

/** One pupil's state for one webhook: the open burst, or the last one notified (`open: false`). */
export interface Burst {
  school: string;
  personId: string;
  firstAt: string;
  lastAt: string;
  direction: 'in' | 'out';
  eventId: number;
  device: string;
  open: boolean;
}

const ms = (iso: string) => Date.parse(iso);

const burstOf = (passage: Passage): Burst => ({
  school: passage.school,
  personId: passage.personId,
  firstAt: passage.at,
  lastAt: passage.at,
  direction: passage.direction,
  eventId: passage.eventId,
  device: passage.device,
  open: true,
});

export type PassageOutcome =
  | { kind: 'opened' | 'joined'; burst: Burst }
  /** The open burst was over (the new passage is later than its window): notify it, open the next. */
  | { kind: 'settled'; settled: Burst; burst: Burst }
  | { kind: 'stale'; burst: Burst };

/** Takes one passage into the pupil's state. */
export function addPassage(state: Burst | undefined, passage: Passage, debounceMs: number): PassageOutcome {
  if (!state) return { kind: 'opened', burst: burstOf(passage) };
  const at = ms(passage.at);
  if (!state.open) {
    return at > ms(state.lastAt)
      ? { kind: 'opened', burst: burstOf(passage) }
      : { kind: 'stale', burst: state };
  }
  if (at < ms(state.firstAt) - debounceMs) return { kind: 'stale', burst: state };
  if (at < ms(state.lastAt) + debounceMs) {
    const burst =
      at >= ms(state.lastAt)
        ? {
            ...state,
            lastAt: passage.at,
            direction: passage.direction,
            eventId: passage.eventId,
            device: passage.device,
          }
        : { ...state, firstAt: at < ms(state.firstAt) ? passage.at : state.firstAt };
    return { kind: 'joined', burst };
  }
  return { kind: 'settled', settled: { ...state, open: false }, burst: burstOf(passage) };
}

/** Whether an open burst has been quiet long enough to be notified. */
export function hasSettled(burst: Burst, now: number, debounceMs: number): boolean {
  return burst.open && now >= ms(burst.lastAt) + debounceMs;
}
