import type { DenyReason } from '@educard/terminal-sdk';

/**
 * One notice as the receiver gets it: where a pupil passed, that a gate refused them, that they did not
 * come, or that they have books overdue. Never a card id.
 */
export type Notice = PassageNotice | RefusalNotice | AbsenceNotice | OverdueNotice;

/** A pupil's passage at a gate, debounced (docs/notices.md). */
export interface PassageNotice {
  id: string;
  school: string;
  personId: string;
  studentNumber?: string;
  name: string;
  class?: string;
  direction: 'in' | 'out';
  at: string;
  device: string;
}

/**
 * A pupil refused at a gate and not let in within the debounce window: sent to a webhook with
 * `refusals` on. Never for a lockdown, which the school tells the parents of as it decides.
 */
export interface RefusalNotice {
  id: string;
  kind: 'refused';
  school: string;
  personId: string;
  studentNumber?: string;
  name: string;
  class?: string;
  at: string;
  device: string;
  reason: DenyReason;
}

/**
 * A pupil not at school by their class's cut-off on a school day, not on leave: sent once, to a
 * webhook with `absence` on. A pupil refused at a gate says so (they came, and were not let in).
 */
export interface AbsenceNotice {
  id: string;
  kind: 'absent';
  school: string;
  personId: string;
  studentNumber?: string;
  name: string;
  class: string;
  /** The school day, in the school's calendar. */
  date: string;
  cutoffAt: string;
  turnedAwayAt?: string;
  turnedAwayReason?: DenyReason;
}

/**
 * A pupil with books overdue at a school's library, told after school (its dismissal) on a school day:
 * the first day a book of theirs is overdue, then every `overdueEveryDays` while one is, to a webhook
 * with `overdueBooks` on. Every book overdue is listed, so the parent can find them at home.
 */
export interface OverdueNotice {
  id: string;
  kind: 'overdue';
  /** The school whose library lent the books. */
  school: string;
  personId: string;
  studentNumber?: string;
  name: string;
  /** Their class at the school; none for a pupil who has moved on (then `nowAt`). */
  class?: string;
  /** The school the pupil is at now, when they left the library's school. */
  nowAt?: string;
  /** The school day told, in the school's calendar. */
  date: string;
  books: OverdueBook[];
}

export interface OverdueBook {
  /** The copy's barcode. */
  itemId: string;
  /** The catalogue's title; absent for a copy no longer in it. */
  title?: string;
  /** The day it was due back, in the school's calendar. */
  dueDate: string;
  daysOverdue: number;
}
