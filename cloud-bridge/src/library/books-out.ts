import { localDate } from '@educard/terminal-sdk';
import type { LoanLedger } from './loans.js';
import type { CatalogueService } from './service.js';
import type { BookOut } from './types.js';

/**
 * The books a person has out at a school's library, oldest due first: what a transfer or a leaver's
 * removal answers with, so whoever moves them can tell the library (the move goes ahead regardless:
 * a book never holds up a pupil's new school or their leaving).
 */
export function booksOutReader(
  ledger: Pick<LoanLedger, 'openLoansOf'>,
  catalogue: Pick<CatalogueService, 'titlesOf'>,
  timeZoneOf: (school: string) => string,
) {
  return (school: string, personId: string): BookOut[] => {
    const titleOf = catalogue.titlesOf(school);
    const timeZone = timeZoneOf(school);
    return ledger
      .openLoansOf(school, personId)
      .map((loan): BookOut => {
        const title = titleOf(loan.itemId);
        return {
          school,
          loanId: loan.loanId,
          itemId: loan.itemId,
          ...(title ? { title } : {}),
          dueAt: loan.dueAt,
          dueDate: localDate(Date.parse(loan.dueAt), timeZone),
        };
      })
      .sort((a, b) => a.dueAt.localeCompare(b.dueAt));
  };
}
