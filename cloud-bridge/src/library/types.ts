/** The library's answers the pages read: Node-free, so the pages type them from here. */

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
  checkedOutAt: string;
  dueAt: string;
  daysOverdue: number;
  renewals: number;
  /** Where it was lent. */
  station: string;
}

export interface OverdueList {
  school: string;
  asOf: string;
  timeZone: string;
  loans: OverdueLoan[];
}
