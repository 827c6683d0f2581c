import { daysLate, localDate } from '@educard/terminal-sdk';
import { toCsv } from '../csv/index.js';
import { byClassId, byName, type Directory, type PersonLabel, personLabel } from '../directory/index.js';
import type { BridgeStore } from '../store/index.js';
import type { LoanRecord } from './ledger.js';
import type { LoanLedger } from './loans.js';
import type { CatalogueService } from './service.js';
import type { OverdueList, OverdueLoan, ParentReminder } from './types.js';

export interface OverdueSources {
  openLoans: (school: string) => LoanRecord[];
  titleOf: (school: string) => (itemId: string) => string | undefined;
  label: (personId: string, school: string) => PersonLabel;
  timeZoneOf: (school: string) => string;
  /** The reminders of overdue books each pupil's parents were sent (kept 30 days), oldest first. */
  remindersOf?: (school: string) => ReadonlyMap<string, readonly ParentReminder[]>;
}

/**
 * The overdue list's sources at a bridge: the ledger's open loans, the catalogue's titles, the directory's
 * (else the cards') names and classes. The librarian's list and the parents' reminders read the same.
 */
export function libraryOverdueSources(parts: {
  ledger: Pick<LoanLedger, 'openLoans'>;
  catalogue: Pick<CatalogueService, 'titlesOf'>;
  directory: Directory;
  store: Pick<BridgeStore, 'personCards'>;
  timeZoneOf: (school: string) => string;
  remindersOf?: OverdueSources['remindersOf'];
}): OverdueSources {
  return {
    openLoans: (school) => parts.ledger.openLoans(school),
    titleOf: (school) => parts.catalogue.titlesOf(school),
    label: (personId, school) => personLabel(parts.directory, parts.store, personId, school),
    timeZoneOf: parts.timeZoneOf,
    ...(parts.remindersOf ? { remindersOf: parts.remindersOf } : {}),
  };
}

/**
 * A school's loans past their due date at `at`, class by class (pupils' classes in order, then those
 * with none: teachers and staff, pupils moved to another school), each borrower's by name, then their
 * oldest due first; with `className`, that class's only (as the directory or the card has the
 * borrower now). Days overdue are counted as the desk counts them (`daysLate`).
 */
export function overdueList(
  sources: OverdueSources,
  school: string,
  at: Date,
  className?: string,
): OverdueList {
  const titleOf = sources.titleOf(school);
  const reminders = sources.remindersOf?.(school);
  // A reminder lists every book overdue when it was sent: the latest sent after this one fell due.
  const remindedOf = (loan: LoanRecord) =>
    reminders?.get(loan.personId)?.findLast((reminder) => Date.parse(reminder.at) > Date.parse(loan.dueAt));
  const loans = sources
    .openLoans(school)
    .filter((loan) => daysLate(loan.dueAt, at) > 0)
    .flatMap((loan): OverdueLoan[] => {
      const borrower = sources.label(loan.personId, school);
      if (className !== undefined && borrower.class !== className) return [];
      const title = titleOf(loan.itemId);
      const reminded = remindedOf(loan);
      return [
        {
          loanId: loan.loanId,
          itemId: loan.itemId,
          ...(title ? { title } : {}),
          personId: loan.personId,
          ...borrower,
          checkedOutAt: loan.checkedOutAt,
          dueAt: loan.dueAt,
          daysOverdue: daysLate(loan.dueAt, at),
          renewals: loan.renewals,
          station: loan.station,
          ...(reminded ? { parentsReminded: reminded } : {}),
        },
      ];
    })
    .sort(
      (a, b) =>
        (a.class === undefined ? 1 : 0) - (b.class === undefined ? 1 : 0) ||
        byClassId(a.class ?? '', b.class ?? '') ||
        byName(a.name, b.name) ||
        a.personId.localeCompare(b.personId) ||
        a.dueAt.localeCompare(b.dueAt),
    );
  return {
    school,
    ...(className !== undefined ? { class: className } : {}),
    asOf: at.toISOString(),
    timeZone: sources.timeZoneOf(school),
    loans,
  };
}

export const OVERDUE_CSV_COLUMNS = [
  'class',
  'name',
  'person_id',
  'role',
  'item_id',
  'title',
  'due_date',
  'days_overdue',
  'renewals',
  'station',
  'now_at',
  'parents_reminded',
] as const;

/** One row per overdue loan, for a spreadsheet or a printout: UTF-8 with a BOM, CRLF; dates local. */
export function overdueCsv(list: OverdueList): string {
  const rows = list.loans.map((loan) => [
    loan.class,
    loan.name,
    loan.personId,
    loan.role,
    loan.itemId,
    loan.title,
    localDate(Date.parse(loan.dueAt), list.timeZone),
    loan.daysOverdue,
    loan.renewals,
    loan.station,
    loan.nowAt,
    loan.parentsReminded?.date,
  ]);
  return toCsv([[...OVERDUE_CSV_COLUMNS], ...rows], { bom: true, lineEnd: 'crlf' });
}
