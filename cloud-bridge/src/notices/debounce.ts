/**
 * The debounce rule of parent notices (docs/notices.md). A pupil's passages closer than `debounceMs`
 * to the burst they join make one burst; a burst settles once `debounceMs` has passed after its latest
 * passage, and gives one notice: the direction, time and device of that latest passage (where the
 * pupil is now). Two taps in a row, or in-out-in within the window, are one notice.
 *
 * Passages can arrive late (a gate that was offline). One that falls inside the open burst's window
 * joins it; one older than what the parent was already told, or older than the open burst's window,
 * is stale: telling it now would contradict a newer notice.
 *
 * A refused entry (for a webhook with `refusals` on) is an item of the burst like a passage: a pupil
 * refused and let in within the window is told `in`, one refused and still outside is told `refused`.
 * A refusal tells the parent nothing new while what they were last told stands (`HOLDS_MS`): the pupil
 * went in (a second tap of a pupil inside), or was refused already.
 */
import type { DenyReason } from '@educard/terminal-sdk';

/** Where a pupil is after an item: in, out, or outside a gate that refused them. */
export type BurstDirection = 'in' | 'out' | 'refused';

/** How long an entry says the pupil is inside, and a refusal that they were refused: a school day, not the next. */
export const HOLDS_MS = 12 * 3_600_000;

export interface Passage {
  eventId: number;
  school: string;
  personId: string;
  /** ISO UTC, as stored. */
  at: string;
  direction: BurstDirection;
  device: string;
  /** Why the gate refused them (`direction: 'refused'`). */
  reason?: DenyReason;
}

/** One pupil's state for one webhook: the open burst, or the last one notified (`open: false`). */
export interface Burst {
  school: string;
  personId: string;
  firstAt: string;
  lastAt: string;
  direction: BurstDirection;
  eventId: number;
  device: string;
  reason?: DenyReason;
  open: boolean;
}

const ms = (iso: string) => Date.parse(iso);

/** The fields of a burst its latest item sets. */
const latest = (passage: Passage) => ({
  lastAt: passage.at,
  direction: passage.direction,
  eventId: passage.eventId,
  device: passage.device,
  ...(passage.reason ? { reason: passage.reason } : {}),
});

const burstOf = (passage: Passage): Burst => ({
  school: passage.school,
  personId: passage.personId,
  firstAt: passage.at,
  ...latest(passage),
  open: true,
});

export type PassageOutcome =
  | { kind: 'opened' | 'joined'; burst: Burst }
  /** The open burst was over (the new passage is later than its window): notify it, open the next. */
  | { kind: 'settled'; settled: Burst; burst: Burst }
  | { kind: 'stale'; burst: Burst }
  /** A refusal of a pupil inside, or refused already: nothing new for the parent. */
  | { kind: 'unchanged'; burst: Burst };

/** Takes one passage (or refusal) into the pupil's state. */
export function addPassage(state: Burst | undefined, passage: Passage, debounceMs: number): PassageOutcome {
  if (!state) return { kind: 'opened', burst: burstOf(passage) };
  const at = ms(passage.at);
  if (passage.direction === 'refused' && state.direction !== 'out') {
    const since = at - ms(state.lastAt);
    if (since >= 0 && since < HOLDS_MS) return { kind: 'unchanged', burst: state };
  }
  if (!state.open) {
    return at > ms(state.lastAt)
      ? { kind: 'opened', burst: burstOf(passage) }
      : { kind: 'stale', burst: state };
  }
  if (at < ms(state.firstAt) - debounceMs) return { kind: 'stale', burst: state };
  if (at < ms(state.lastAt) + debounceMs) {
    const burst =
      at >= ms(state.lastAt)
        ? { ...withoutReason(state), ...latest(passage) }
        : { ...state, firstAt: at < ms(state.firstAt) ? passage.at : state.firstAt };
    return { kind: 'joined', burst };
  }
  return { kind: 'settled', settled: { ...state, open: false }, burst: burstOf(passage) };
}

function withoutReason(burst: Burst): Burst {
  const { reason: _, ...rest } = burst;
  return rest;
}

/** Whether an open burst has been quiet long enough to be notified. */
export function hasSettled(burst: Burst, now: number, debounceMs: number): boolean {
  return burst.open && now >= ms(burst.lastAt) + debounceMs;
}
