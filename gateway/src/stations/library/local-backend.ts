import { daysLate } from '@educard/terminal-sdk';
import type { CatalogueView } from '../../catalogue/index.js';
import type {
  BackendResult,
  CheckoutOutcome,
  CheckoutRequest,
  LibraryBackend,
  LibraryBlock,
  LoanInfo,
  PatronRef,
  PatronStatus,
  RenewOutcome,
  RenewRequest,
  ReturnOutcome,
  ReturnRequest,
} from './backend.js';
import type { LoanLedger } from './ledger.js';

/**
 * The library decided on the gateway itself: the loans of its ledger, the items and rules of the
 * signed catalogue. What it answers is journaled with `source: 'local'`. Without a catalogue no item
 * is known: a mistyped barcode never becomes a loan.
 */
export class LocalLedgerBackend implements LibraryBackend {
  readonly source = 'local' as const;

  constructor(
    private readonly ledger: LoanLedger,
    private readonly catalogue: () => CatalogueView | undefined,
  ) {}

  async patronStatus(
    patron: PatronRef,
    context: { at: Date; rules: { loanLimit: number } },
  ): Promise<PatronStatus> {
    const loans = this.loansOf(patron.personId);
    const blocks: LibraryBlock[] = [];
    if (loans.some((loan) => Date.parse(loan.dueAt) < context.at.getTime())) blocks.push('overdue-items');
    if (loans.length >= context.rules.loanLimit) blocks.push('loan-limit');
    return { loans, loanLimit: context.rules.loanLimit, blocks };
  }

  async checkout(request: CheckoutRequest): Promise<BackendResult<CheckoutOutcome>> {
    const { itemId, patron, rules, at } = request;
    const item = this.catalogue()?.item(itemId);
    if (!item || item.status === 'withdrawn') {
      return {
        ok: false,
        reason: 'unknown-item',
        message: item ? `${itemId} has been withdrawn` : `${itemId} is not in the library's catalogue`,
      };
    }
    if (item.status === 'reference')
      return { ok: false, reason: 'item-reference', message: `"${item.title}" is for reference only` };
    const lent = this.ledger.loanOfItem(itemId);
    if (lent) {
      return {
        ok: false,
        reason: 'already-on-loan',
        message:
          lent.personId === patron.personId
            ? `"${item.title}" is already on loan to this patron`
            : `"${item.title}" is on loan to someone else`,
      };
    }
    const loans = this.ledger.loansOf(patron.personId);
    const overdue = loans.filter((loan) => Date.parse(loan.dueAt) < at.getTime()).length;
    if (overdue > 0)
      return { ok: false, reason: 'overdue-items', message: `${overdue} overdue item(s) to return first` };
    if (loans.length >= rules.loanLimit)
      return { ok: false, reason: 'loan-limit', message: `loan limit of ${rules.loanLimit} reached` };
    return { ok: true, loanId: request.loanId, dueAt: request.dueAt.toISOString(), title: item.title };
  }

  async return(request: ReturnRequest): Promise<BackendResult<ReturnOutcome>> {
    const loan = this.ledger.loanOfItem(request.itemId);
    const title = this.catalogue()?.item(request.itemId)?.title;
    if (!loan) {
      return title === undefined
        ? {
            ok: false,
            reason: 'unknown-item',
            message: `${request.itemId} is not in the catalogue, nor on loan`,
          }
        : { ok: false, reason: 'not-on-loan', message: `"${title}" is not on loan` };
    }
    const late = daysLate(loan.dueAt, request.at);
    return {
      ok: true,
      loanId: loan.loanId,
      personId: loan.personId,
      ...(late > 0 ? { overdueDays: late } : {}),
      ...(title !== undefined ? { title } : {}),
    };
  }

  async renew(request: RenewRequest): Promise<BackendResult<RenewOutcome>> {
    const { itemId, patron, rules, at } = request;
    const loan = this.ledger.loanOfItem(itemId);
    const title = this.catalogue()?.item(itemId)?.title;
    if (!loan || loan.personId !== patron.personId)
      return {
        ok: false,
        reason: 'not-on-loan',
        message: `${title ?? itemId} is not on loan to this patron`,
      };
    if (this.ledger.loansOf(patron.personId).some((l) => Date.parse(l.dueAt) < at.getTime()))
      return {
        ok: false,
        reason: 'overdue-items',
        message: 'overdue items must be returned before renewing',
      };
    if (loan.renewals >= rules.renewals) {
      return {
        ok: false,
        reason: 'renewals-exhausted',
        message: `already renewed ${loan.renewals} time(s), the most allowed`,
      };
    }
    // From today, and never earlier than it was due.
    const dueAt = new Date(Math.max(request.dueAt.getTime(), Date.parse(loan.dueAt)));
    return {
      ok: true,
      loanId: loan.loanId,
      dueAt: dueAt.toISOString(),
      renewals: loan.renewals + 1,
      ...(title !== undefined ? { title } : {}),
    };
  }

  private loansOf(personId: string): (LoanInfo & { dueAt: string })[] {
    const catalogue = this.catalogue();
    return this.ledger.loansOf(personId).map((loan) => {
      const title = catalogue?.item(loan.itemId)?.title;
      return {
        loanId: loan.loanId,
        itemId: loan.itemId,
        ...(title !== undefined ? { title } : {}),
        checkedOutAt: loan.checkedOutAt,
        dueAt: loan.dueAt,
        renewals: loan.renewals,
      };
    });
  }
}
