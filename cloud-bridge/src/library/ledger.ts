/**
 * The bridge's loan ledger of a school, rebuilt item by item from the library events gateways send.
 * Each item's events are replayed in the order they happened (their `at`, then arrival), whatever
 * order the gateways' batches came in: a desk that was offline for a week is slotted into the
 * history where it belongs. Two loans of one item open at the same time (two desks lending the same
 * book while both were offline, or a copy lent without its return being scanned) are kept both, and
 * reported as a conflict rather than one hiding the other.
 */

/** One library event of an item, as the store keeps it. */
export interface LibraryEventRow {
  eventId: number;
  device: string;
  /** UTC, toISOString's shape. */
  at: string;
  type: string;
  data: Record<string, unknown>;
}

export interface LoanRecord {
  school: string;
  loanId: string;
  itemId: string;
  personId: string;
  device: string;
  station: string;
  source: string;
  checkedOutAt: string;
  dueAt: string;
  renewals: number;
  returnedAt?: string;
  /** The device the item was returned at. */
  returnedAtDevice?: string;
  overdueDays?: number;
}

/** Two loans of one item open at once: `loanId` was open when `otherLoanId` was made. */
export interface ConflictRecord {
  school: string;
  itemId: string;
  loanId: string;
  otherLoanId: string;
  /** When the second loan was made. */
  at: string;
}

const text = (data: Record<string, unknown>, key: string) =>
  typeof data[key] === 'string' ? (data[key] as string) : undefined;

/**
 * Replays one item's events. A checkout opens a loan (a second checkout under a loan id already seen
 * is a replay and changes nothing); a return closes every loan of the item still open, since the copy
 * is back in the library, the one it names first; a renewal moves a loan's due date.
 */
export function replayItem(
  school: string,
  itemId: string,
  events: LibraryEventRow[],
): { loans: LoanRecord[]; conflicts: ConflictRecord[] } {
  const ordered = [...events].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.eventId - b.eventId));
  const loans = new Map<string, LoanRecord>();
  const open = new Map<string, LoanRecord>();
  const conflicts: ConflictRecord[] = [];
  for (const event of ordered) {
    const { data } = event;
    const loanId = text(data, 'loanId');
    if (event.type === 'library.checkout') {
      const personId = text(data, 'personId');
      const dueAt = text(data, 'dueAt');
      if (!loanId || !personId || !dueAt || loans.has(loanId)) continue;
      for (const other of open.values())
        conflicts.push({ school, itemId, loanId: other.loanId, otherLoanId: loanId, at: event.at });
      const loan: LoanRecord = {
        school,
        loanId,
        itemId,
        personId,
        device: event.device,
        station: text(data, 'station') ?? '',
        source: text(data, 'source') ?? 'local',
        checkedOutAt: event.at,
        dueAt,
        renewals: 0,
      };
      loans.set(loanId, loan);
      open.set(loanId, loan);
    } else if (event.type === 'library.return') {
      const overdueDays = typeof data.overdueDays === 'number' ? data.overdueDays : undefined;
      for (const loan of open.values()) {
        loan.returnedAt = event.at;
        loan.returnedAtDevice = event.device;
        if (overdueDays !== undefined && (loanId === undefined || loanId === loan.loanId))
          loan.overdueDays = overdueDays;
      }
      open.clear();
    } else if (event.type === 'library.renew') {
      const dueAt = text(data, 'dueAt');
      const loan = (loanId ? open.get(loanId) : undefined) ?? [...open.values()].at(-1);
      if (!loan || !dueAt) continue;
      loan.dueAt = dueAt;
      loan.renewals = typeof data.renewals === 'number' ? data.renewals : loan.renewals + 1;
    }
  }
  return { loans: [...loans.values()], conflicts };
}

export const LIBRARY_EVENT_TYPES = ['library.checkout', 'library.return', 'library.renew'] as const;
