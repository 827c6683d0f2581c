import type { LoanRules } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import {
  type BackendResult,
  BackendUnavailable,
  type CheckoutOutcome,
  type CheckoutRequest,
  type LibraryBackend,
  type LibraryBlock,
  type LibraryRefusal,
  type LoanInfo,
  type PatronRef,
  type PatronStatus,
  type RenewOutcome,
  type RenewRequest,
  type ReplayOutcome,
  type ReplayReport,
  type ReplayTransaction,
  type ReturnOutcome,
  type ReturnRequest,
} from '../stations/library/backend.js';
import type { CirculationResult, PatronInformation } from './answers.js';
import type { Sip2Client } from './client.js';
import { Sip2Error } from './errors.js';
import { ReplayCursor } from './replay.js';

export interface Sip2BackendOptions {
  client: Sip2Client;
  /** The replay cursor: which offline transactions the library system has already been sent. */
  stateFile: string;
  logger?: Logger;
  /** At most this many loans get their due date looked up (17) in a patron's status. */
  maxLoanLookups?: number;
}

const DAY_MS = 86_400_000;

/**
 * Screen messages as library systems word them → our refusal codes. The message itself is always
 * passed on for the librarian to read; the code is what a page can translate.
 */
const REFUSALS: [RegExp, LibraryRefusal][] = [
  [/not (currently )?(checked|charged) out|not on loan|not loaned|no (active )?loan/i, 'not-on-loan'],
  [
    /(checked|charged) out to (another|other|a different|someone)|already (checked|charged) out|on loan to/i,
    'already-on-loan',
  ],
  [
    /renewal.*(limit|exhausted|max|not allowed)|too many renewals|no more renewals|cannot be renewed|on hold|reserved/i,
    'renewals-exhausted',
  ],
  [
    /(item|barcode|copy)\b.*(not found|unknown|invalid|does not exist)|(unknown|invalid|no such) (item|barcode|copy)/i,
    'unknown-item',
  ],
  [
    /(patron|borrower|user|card)\b.*(not found|unknown|invalid|does not exist)|(unknown|invalid|no such) (patron|borrower|user)/i,
    'unknown-patron',
  ],
  [/\blost\b/i, 'card-lost'],
  [/overdue/i, 'overdue-items'],
  [/too many|limit|maximum/i, 'loan-limit'],
  [
    /reference|not for loan|not loanable|non-?circulating|cannot be (borrowed|checked out)/i,
    'item-reference',
  ],
  [/block|barred|debarred|suspend|restrict|expired|fine|fee/i, 'card-suspended'],
];

/** Our code for a refusal worded in `messages`; `library-refused` when none matches (or there is none). */
export function refusalOf(messages: string[]): LibraryRefusal {
  const text = messages.join(' ');
  for (const [pattern, reason] of REFUSALS) if (pattern.test(text)) return reason;
  return 'library-refused';
}

const itemOf = (charged: string) => charged.trim().split(/\s+/)[0] ?? '';
/** Circulation statuses (18) of an item that is not on loan: available, on the hold shelf, to be shelved, in transit. */
const NOT_CHARGED = new Set(['03', '08', '09', '10']);

/**
 * The school's library system over SIP2 as the library station's backend: checkouts, returns,
 * renewals and patron status go to the system, which decides; when it cannot be reached the station
 * gets {@link BackendUnavailable} and decides from its own ledger, and {@link replay} later sends
 * what it decided (no-block, with the original dates) once the system is back.
 */
export class Sip2Backend implements LibraryBackend {
  readonly source = 'sip2' as const;
  readonly probeIntervalMs: number;
  private readonly client: Sip2Client;
  private readonly log: Logger | undefined;
  private readonly cursor: ReplayCursor;
  private connecting: Promise<void> | undefined;

  constructor(private readonly options: Sip2BackendOptions) {
    this.client = options.client;
    this.probeIntervalMs = options.client.config.probeIntervalMs;
    this.log = options.logger?.child({ component: 'sip2-backend' });
    this.cursor = new ReplayCursor(options.stateFile);
  }

  /**
   * Connects in the background, so that a wrong login shows in the log at start without holding the
   * gateway's start up; a system that is down is no error (the first request connects again).
   */
  async start(): Promise<void> {
    this.connecting = this.client.connect().then(
      () => undefined,
      (error: unknown) => {
        this.log?.warn({ err: error }, 'library system not reachable at start');
      },
    );
  }

  async stop(): Promise<void> {
    await this.client.close();
    await this.connecting;
  }

  /**
   * Whether the library system is reachable and on line now (a status request, 99): what the station
   * asks, while it decides locally, to know when to {@link replay}.
   */
  async probe(): Promise<boolean> {
    try {
      const status = await this.client.status();
      return status.online && status.checkoutOk && status.checkinOk;
    } catch (error) {
      if (error instanceof Sip2Error) return false;
      throw error;
    }
  }

  async patronStatus(patron: PatronRef, context: { at: Date; rules: LoanRules }): Promise<PatronStatus> {
    const patronId = this.patronId(patron);
    const info = await this.call(() => this.client.patron(patronId, { list: 'charged' }));
    const loanLimit = info.chargedLimit ?? context.rules.loanLimit;
    const items = info.chargedItems.map(itemOf).filter((id) => id !== '');
    const loans: LoanInfo[] = [];
    const lookups = this.options.maxLoanLookups ?? 50;
    // SIP2 lists charged items without due dates: item information (17) tells each one's.
    for (const [index, itemId] of items.entries()) {
      if (index >= lookups || this.client.acsStatus?.supports.itemInformation === false) {
        loans.push({ itemId });
        continue;
      }
      const item = await this.call(() => this.client.itemInformation(itemId));
      loans.push({
        itemId,
        ...(item.title ? { title: item.title } : {}),
        ...(item.dueDate ? { dueAt: item.dueDate.toISOString() } : {}),
      });
    }
    return { loans, loanLimit, blocks: blocksOf(info, items.length, loanLimit) };
  }

  async checkout(request: CheckoutRequest): Promise<BackendResult<CheckoutOutcome>> {
    const patronId = this.patronId(request.patron);
    this.requireOnline('checkout');
    const result = await this.call(() =>
      this.client.checkout({ patronId, itemId: request.itemId, at: request.at }),
    );
    if (!result.ok) return this.refused(result);
    return {
      ok: true,
      loanId: request.loanId,
      dueAt: (result.dueDate ?? request.dueAt).toISOString(),
      ...(result.title ? { title: result.title } : {}),
    };
  }

  async return(request: ReturnRequest): Promise<BackendResult<ReturnOutcome>> {
    this.requireOnline('checkin');
    const result = await this.call(() => this.client.checkin({ itemId: request.itemId, at: request.at }));
    if (!result.ok) return this.refused(result);
    const personId = this.client.config.patronIdentifier === 'personId' ? result.patronId : undefined;
    return {
      ok: true,
      ...(personId ? { personId } : {}),
      ...(result.title ? { title: result.title } : {}),
    };
  }

  async renew(request: RenewRequest): Promise<BackendResult<RenewOutcome>> {
    const patronId = this.patronId(request.patron);
    const result = await this.call(() =>
      this.client.renew({ patronId, itemId: request.itemId, at: request.at }),
    );
    if (!result.ok) return this.refused(result);
    return {
      ok: true,
      dueAt: (result.dueDate ?? request.dueAt).toISOString(),
      ...(result.title ? { title: result.title } : {}),
    };
  }

  /**
   * Sends transactions the station decided locally while the system was unreachable, in order, as
   * no-block requests with their original dates. Each is sent once: the cursor file remembers what
   * was answered, and one whose answer was lost (a replay cut short) is looked up in the system
   * before it is sent again. Stops at the first failure to reach the system; what is left is
   * `pending` and a later call (with the same list, less what the station has settled) goes on.
   *
   * Call it with every transaction not yet settled, oldest first; ids must be unique (the station
   * uses `<device>:<seq>` of the event it journaled). `onOutcome` sees each outcome as soon as it is
   * durable in the cursor, and is awaited before the next is sent.
   */
  async replay(
    transactions: readonly ReplayTransaction[],
    onOutcome?: (outcome: ReplayOutcome) => void | Promise<void>,
  ): Promise<ReplayReport> {
    await this.cursor.load();
    await this.cursor.keepOnly(new Set(transactions.map((t) => t.id)));
    const outcomes: ReplayOutcome[] = [];
    for (const [index, transaction] of transactions.entries()) {
      let outcome = this.cursor.outcome(transaction.id);
      if (!outcome) {
        try {
          outcome = await this.replayOne(transaction, this.cursor.inDoubt(transaction.id));
        } catch (error) {
          if (!(error instanceof Sip2Error)) throw error;
          this.log?.warn(
            { err: error, replayed: index, left: transactions.length - index },
            'library system unreachable during the replay; the rest waits',
          );
          return { outcomes, pending: transactions.slice(index).map((t) => t.id), complete: false };
        }
        await this.cursor.done(outcome);
        this.log?.info(
          { id: outcome.id, kind: outcome.kind, status: outcome.status, already: outcome.already },
          'offline transaction replayed',
        );
      }
      outcomes.push(outcome);
      await onOutcome?.(outcome);
    }
    return { outcomes, pending: [], complete: true };
  }

  private async replayOne(transaction: ReplayTransaction, inDoubt: boolean): Promise<ReplayOutcome> {
    const { id, kind, itemId } = transaction;
    const at = new Date(transaction.at);
    const base = { id, kind, itemId };
    const supports = this.client.acsStatus?.supports;
    if (kind === 'return') {
      // A checkin sent twice is harmless; only one whose answer was lost is looked up first.
      if (inDoubt && supports?.itemInformation !== false) {
        const item = await this.client.itemInformation(itemId);
        if (NOT_CHARGED.has(item.circulationStatus)) return { ...base, status: 'accepted', already: true };
      }
      await this.cursor.sending(id);
      const result = await this.client.checkin({ itemId, at, noBlock: true });
      return result.ok ? { ...base, status: 'accepted' } : this.refusedReplay(base, result);
    }
    const patronId = this.patronIdOf(transaction);
    if (patronId === undefined) {
      return {
        ...base,
        status: 'refused',
        reason: 'unknown-patron',
        message: 'no card number to name the patron by',
      };
    }
    const dueAt = new Date(transaction.dueAt);
    if (kind === 'checkout') {
      // Already charged to this patron: the replay was cut after sending it, or the desk's request
      // reached the system but its answer did not. Sending it again could renew it.
      if (supports?.patronInformation !== false && this.client.config.patronRequest !== 'status') {
        const info = await this.client.patronInformation(patronId, { list: 'charged' });
        if (info.chargedItems.map(itemOf).includes(itemId))
          return { ...base, status: 'accepted', already: true };
      }
      await this.cursor.sending(id);
      const result = await this.client.checkout({ patronId, itemId, at, noBlock: true, nbDueDate: dueAt });
      if (!result.ok) return this.refusedReplay(base, result);
      return { ...base, status: 'accepted', dueAt: (result.dueDate ?? dueAt).toISOString() };
    }
    // A renewal whose answer was lost: carried out if the item is now due at least as late as we asked.
    if (inDoubt && supports?.itemInformation !== false) {
      const item = await this.client.itemInformation(itemId);
      if (item.dueDate && item.dueDate.getTime() >= dueAt.getTime() - DAY_MS) {
        return { ...base, status: 'accepted', already: true, dueAt: item.dueDate.toISOString() };
      }
    }
    await this.cursor.sending(id);
    const result = await this.client.renew({ patronId, itemId, at, noBlock: true, nbDueDate: dueAt });
    if (!result.ok) return this.refusedReplay(base, result);
    return { ...base, status: 'accepted', dueAt: (result.dueDate ?? dueAt).toISOString() };
  }

  // — helpers —

  private patronIdOf(patron: { personId: string; cardId?: string | undefined }): string | undefined {
    return this.client.config.patronIdentifier === 'cardId' ? patron.cardId : patron.personId;
  }

  private patronId(patron: PatronRef): string {
    const id = this.patronIdOf(patron);
    if (id === undefined)
      throw new BackendUnavailable('the library system knows patrons by card, and none is known');
    return id;
  }

  /** A system that says it is off line, or that it takes no checkouts or checkins now, is unavailable. */
  private requireOnline(what: 'checkout' | 'checkin'): void {
    const acs = this.client.acsStatus;
    if (!acs || !this.client.connected) return;
    if (!acs.online || (what === 'checkout' ? !acs.checkoutOk : !acs.checkinOk)) {
      throw new BackendUnavailable(`the library system is off line for ${what}s`);
    }
  }

  private async call<T>(request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      if (error instanceof Sip2Error) {
        throw new BackendUnavailable(`library system: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }

  private refused(result: CirculationResult) {
    const message = result.screenMessages.join(' ').slice(0, 512);
    return {
      ok: false as const,
      reason: refusalOf(result.screenMessages),
      ...(message ? { message } : {}),
    };
  }

  private refusedReplay(
    base: Pick<ReplayOutcome, 'id' | 'kind' | 'itemId'>,
    result: CirculationResult,
  ): ReplayOutcome {
    const refusal = this.refused(result);
    return {
      ...base,
      status: 'refused',
      reason: refusal.reason,
      ...(refusal.message ? { message: refusal.message } : {}),
    };
  }
}

/** The blocks a patron's SIP2 status shows, as the station's codes. */
export function blocksOf(info: PatronInformation, charged: number, loanLimit: number): LibraryBlock[] {
  const blocks = new Set<LibraryBlock>();
  const flags = new Set(info.flags);
  if (info.valid === false) blocks.add('unknown-patron');
  if (flags.has('cardReportedLost')) blocks.add('card-lost');
  if (flags.has('tooManyItemsOverdue') || flags.has('recallOverdue')) blocks.add('overdue-items');
  if (
    flags.has('tooManyItemsCharged') ||
    (loanLimit > 0 && Math.max(charged, info.chargedCount ?? 0) >= loanLimit)
  ) {
    blocks.add('loan-limit');
  }
  if (flags.has('chargePrivilegesDenied') && blocks.size === 0) blocks.add('card-suspended');
  return [...blocks];
}
