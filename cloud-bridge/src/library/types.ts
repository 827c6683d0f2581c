/** The library's answers the pages read: Node-free, so the pages type them from here. */

import type { ConflictRecord, LoanRecord } from './ledger.js';

/** An open loan past its due date, with what the librarian needs to chase it. */
export interface OverdueLoan {
  loanId: string;
  itemId: string;
  /** The catalogue's title; absent for an item no longer in it. */
  title?: string;
  personId: string;
  name: string;
  class?: string;
  role?: string;
  /** The school the borrower is at now, when they moved on from this one (then no class). */
  nowAt?: string;
  checkedOutAt: string;
  dueAt: string;
  daysOverdue: number;
  renewals: number;
  /** Where it was lent. */
  station: string;
  /** The last reminder of overdue books the pupil's parents were sent since this one fell overdue. */
  parentsReminded?: ParentReminder;
}

/** A reminder of overdue books to a pupil's parents (docs/notices.md): its school day, how far it got. */
export interface ParentReminder {
  date: string;
  /** When it was queued. */
  at: string;
  state: 'waiting' | 'delivered' | 'given-up';
}

export interface OverdueList {
  school: string;
  /** The class the list was asked for (a form teacher's): only its pupils' loans are in it. */
  class?: string;
  asOf: string;
  timeZone: string;
  loans: OverdueLoan[];
}

/** A book a person has out at a school's library: what moving them, or their leaving, warns of. */
export interface BookOut {
  school: string;
  loanId: string;
  itemId: string;
  /** The catalogue's title; absent for an item no longer in it. */
  title?: string;
  dueAt: string;
  /** The day it is due, in the school's calendar. */
  dueDate: string;
}

export interface ItemProblem {
  /** 1-based line in the file, the header being line 1 (for JSON, the item's 1-based position). */
  line: number;
  itemId?: string;
  problem: string;
}

/** What a catalogue import did, or would do (a dry run). */
export interface CatalogueImportReport {
  ok: boolean;
  dryRun: boolean;
  version?: number;
  added: number;
  updated: number;
  removed: number;
  unchanged: number;
  rulesChanged: boolean;
  problems: ItemProblem[];
}

/** A loan with its borrower's name, class and role (the overdue list's `label`). */
export type NamedLoan = LoanRecord & { name: string; class?: string; role?: string; nowAt?: string };

/** A conflict as the bridge answers it: the item's title, both loans with their borrowers. */
export interface LoanConflictView extends ConflictRecord {
  detectedAt: string;
  title?: string;
  loans: NamedLoan[];
}
