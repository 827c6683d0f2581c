import type { LoanRules, Role } from '@educard/terminal-sdk';

/**
 * Why a library transaction is refused: a code a desk page translates. `card-*` come from the
 * roster (checked by the station before any backend is asked); the others from the backend that
 * keeps the loans (our own ledger, or the school's library system over SIP2).
 */
export const LIBRARY_REFUSALS = [
  'unknown-patron',
  'card-lost',
  'card-cancelled',
  'card-suspended',
  /** The patron moved to another school: what they borrowed here is still owed here. */
  'card-transferred',
  'card-invalid',
  'loan-limit',
  'overdue-items',
  'unknown-item',
  'item-reference',
  'already-on-loan',
  'not-on-loan',
  'renewals-exhausted',
  /**
   * An item of another school's library, on loan to this patron in the library system the district
   * shares: this desk shows it but neither takes it back nor renews it.
   */
  'item-elsewhere',
  /** The library system refused with a screen message no other code matches: the message says why. */
  'library-refused',
] as const;
export type LibraryRefusal = (typeof LIBRARY_REFUSALS)[number];

/**
 * Why a patron may not borrow now (a subset of the refusals: what a tap shows before any scan).
 * `unknown-patron`: the library system does not know the person (SIP2 BL=N).
 */
export type LibraryBlock = Extract<
  LibraryRefusal,
  | 'unknown-patron'
  | 'card-lost'
  | 'card-cancelled'
  | 'card-suspended'
  | 'card-transferred'
  | 'card-invalid'
  | 'overdue-items'
  | 'loan-limit'
>;

/** The patron as the station found them on the roster. */
export interface PatronRef {
  personId: string;
  role: Role;
  /** The card used (tapped, or the person's active card when the page names the person). */
  cardId?: string;
}

/**
 * One open loan as a backend reports it. A library system over SIP2 lists a patron's items, and their
 * due dates where it answers item information; the station adds what its own ledger knows.
 */
export interface LoanInfo {
  loanId?: string;
  itemId: string;
  title?: string;
  /** ISO times. */
  checkedOutAt?: string;
  dueAt?: string;
  renewals?: number;
}

export interface PatronStatus {
  loans: LoanInfo[];
  loanLimit: number;
  /** Blocks the backend knows of (overdue items, a limit reached, a block set in the library system). */
  blocks: LibraryBlock[];
}

interface RequestBase {
  /** The desk's transaction id: the same txn is the same transaction (a SIP2 backend may pass it on). */
  txn: string;
  /** The station (desk) deciding. */
  station: string;
  /** The moment of the transaction. */
  at: Date;
}

export interface CheckoutRequest extends RequestBase {
  patron: PatronRef;
  /** The rules of the patron's role, from the catalogue. */
  rules: LoanRules;
  itemId: string;
  /** `<device>:<txn>`: the id the loan is journaled under. */
  loanId: string;
  /** The due date the rules give (`at` + `rules.loanDays`); a backend may answer its own. */
  dueAt: Date;
}

export interface ReturnRequest extends RequestBase {
  itemId: string;
}

export interface RenewRequest extends RequestBase {
  patron: PatronRef;
  rules: LoanRules;
  itemId: string;
  /** The new due date the rules give; a backend may answer its own. */
  dueAt: Date;
}

export type BackendResult<T> = ({ ok: true } & T) | { ok: false; reason: LibraryRefusal; message?: string };

export interface CheckoutOutcome {
  /** The loan's id: the request's `loanId` unless the backend keeps its own. */
  loanId: string;
  dueAt: string;
  title?: string;
}

/** A return: what the backend knows of the loan it ended (the station adds what its ledger knows). */
export interface ReturnOutcome {
  loanId?: string;
  personId?: string;
  /** Days past the due date, when it was returned late. */
  overdueDays?: number;
  title?: string;
}

/**
 * A renewal. A backend that keeps the loans (the local ledger) names the loan and counts its
 * renewals; a library system over SIP2 tells neither, and the station takes them from its ledger.
 */
export interface RenewOutcome {
  loanId?: string;
  dueAt: string;
  /** The loan's renewals after this one (1 for the first renewal). */
  renewals?: number;
  title?: string;
}

/** A transaction the station decided on its own while the library system was unreachable. */
export type ReplayTransaction =
  | {
      kind: 'checkout';
      /** Unique per transaction: `<device>:<seq>` of the event the station journaled. */
      id: string;
      /** When the desk did it: sent as the transaction date. */
      at: Date | string;
      personId: string;
      cardId?: string;
      itemId: string;
      /** The due date the station gave: sent as the no-block due date. */
      dueAt: Date | string;
    }
  | { kind: 'return'; id: string; at: Date | string; itemId: string }
  | {
      kind: 'renew';
      id: string;
      at: Date | string;
      personId: string;
      cardId?: string;
      itemId: string;
      dueAt: Date | string;
    };

export interface ReplayOutcome {
  id: string;
  kind: ReplayTransaction['kind'];
  itemId: string;
  /** `refused`: the system would not take it even as an offline (no-block) transaction. */
  status: 'accepted' | 'refused';
  /** Already in the system (a replay cut after sending it, or a desk request whose answer was lost): not sent again. */
  already?: boolean;
  reason?: LibraryRefusal;
  /** The system's screen message, for the librarian. */
  message?: string;
  /** The due date the system gave, for checkouts and renewals. */
  dueAt?: string;
}

export interface ReplayReport {
  /** One per transaction replayed (or replayed before), in order. */
  outcomes: ReplayOutcome[];
  /** Ids not replayed because the library system went away again; a later replay sends them. */
  pending: string[];
  complete: boolean;
}

/**
 * The system of record for loans. The station checks the card (roster and policy) itself, then asks
 * its backend, journals what the backend decided (waiting until it is durable), and only then
 * applies it to the local ledger. The backend decides but never journals.
 *
 * The local implementation ({@link LocalLedgerBackend}) decides from the local ledger and the
 * catalogue; a SIP2 implementation asks the school's library system. A backend that cannot be
 * reached throws {@link BackendUnavailable}: the station then decides locally and journals the
 * event with `source: 'local'`. A backend with {@link replay} is then left alone: the station decides
 * locally, {@link probe}s it every {@link probeIntervalMs}, and once it answers replays what it
 * decided meanwhile, before it asks the backend again.
 *
 * Methods are called one at a time per station (the station serialises transactions); a replay may
 * run beside them.
 */
export interface LibraryBackend {
  /** What events decided by this backend carry as `source`. */
  readonly source: 'local' | 'sip2';
  /** How often the station probes while it decides locally; 30 s when not given. */
  readonly probeIntervalMs?: number;
  patronStatus(patron: PatronRef, context: { at: Date; rules: LoanRules }): Promise<PatronStatus>;
  checkout(request: CheckoutRequest): Promise<BackendResult<CheckoutOutcome>>;
  return(request: ReturnRequest): Promise<BackendResult<ReturnOutcome>>;
  renew(request: RenewRequest): Promise<BackendResult<RenewOutcome>>;
  /** Whether the system is reachable and takes transactions now. Never throws for an unreachable system. */
  probe?(): Promise<boolean>;
  /**
   * Sends the transactions the station decided locally, oldest first, each once; stops at the first
   * failure to reach the system and reports the rest `pending`. `onOutcome` sees each outcome in order,
   * as soon as the backend has recorded it, and is awaited before the next is sent.
   */
  replay?(
    transactions: readonly ReplayTransaction[],
    onOutcome?: (outcome: ReplayOutcome) => void | Promise<void>,
  ): Promise<ReplayReport>;
  start?(): Promise<void>;
  stop?(): Promise<void>;
}

/** Thrown by a backend that cannot reach its system (a SIP2 server down, a timeout). */
export class BackendUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BackendUnavailable';
  }
}
