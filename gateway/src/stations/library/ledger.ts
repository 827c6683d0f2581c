import {
  type ClockStamp,
  clockStampOf,
  type EventBody,
  type EventRecord,
  type TerminalRequestName,
} from '@educard/terminal-sdk';
import type { Logger } from '../../log/index.js';
import { DurableJsonFile, writeFileDurable } from '../../storage/index.js';
import type { StationReply } from '../types.js';

/** What the ledger needs of the journal (the gateway's Journal). */
export interface LedgerJournal {
  append(body: EventBody): EventRecord;
  /** Resolves once record `seq` is on disk. */
  durable(seq: number): Promise<void>;
  /** Durable records from `fromSeq` on; records the bridge acknowledged may be gone. */
  read(fromSeq: number, limit: number): Promise<EventRecord[]>;
  stats(): { lastSeq: number; durableSeq: number };
}

/** One open loan, as this gateway's journal tells it. */
export interface Loan {
  loanId: string;
  itemId: string;
  personId: string;
  cardId?: string;
  station: string;
  checkedOutAt: string;
  dueAt: string;
  renewals: number;
  source: string;
}

/**
 * A library event this station decided on its own (`source: 'local'`) while its library system could
 * not be reached, kept until the system has been sent it and the outcome is journaled (an event with
 * `replay.of` naming it).
 */
export interface UnsettledEvent {
  seq: number;
  type: 'library.checkout' | 'library.return' | 'library.renew';
  at: string;
  clock: ClockStamp['clock'];
  clockSource?: ClockStamp['clockSource'];
  data: Record<string, unknown>;
}

/** The outcome of one transaction, answered again to the same txn. */
export interface TxnOutcome {
  name: TerminalRequestName;
  itemId: string;
  reply: StationReply;
}

interface LedgerFile {
  v: 1;
  /** The highest journal sequence applied. */
  seq: number;
  loans: Loan[];
  txns: [string, TxnOutcome][];
  unsettled?: UnsettledEvent[];
}

const READ_CHUNK = 500;
/** Transactions remembered for a repeat: far more than a desk's reloads could ever reach back. */
const TXNS_KEPT = 20_000;

/** The reply a journaled library event stands for: the same whether answered live or after a restart. */
export type ReplyOf = (record: EventRecord) => StationReply;

/**
 * The gateway's open loans: a projection of the journal's library events, persisted durably with the
 * journal sequence it reflects. The journal is written first (and waited for), the ledger follows
 * from it; at start, and before each transaction, it catches up on whatever the journal holds past
 * its sequence, so a crash between the two, or another station of the same gateway, never leaves it
 * behind. It also remembers each transaction's outcome by txn: those that made an event are
 * rebuilt from the journal; refusals are kept in the file.
 *
 * With `replayFor` (a station whose backend replays), it also keeps the station's locally decided
 * events until each is settled with the library system: what the station replays when it is back.
 */
export class LoanLedger {
  private seqValue = 0;
  private readonly loans = new Map<string, Loan>();
  private readonly byItem = new Map<string, string>();
  private readonly byPerson = new Map<string, Set<string>>();
  private readonly txns = new Map<string, TxnOutcome>();
  private unsettledEvents: UnsettledEvent[] = [];
  private dirty = false;

  private constructor(
    private readonly path: string,
    private readonly device: string,
    private readonly logger: Logger,
    private readonly replayFor: string | undefined,
  ) {}

  static async open(options: {
    path: string;
    device: string;
    logger: Logger;
    /** The station whose locally decided events are kept until they are settled (see {@link unsettled}). */
    replayFor?: string;
  }): Promise<LoanLedger> {
    const ledger = new LoanLedger(options.path, options.device, options.logger, options.replayFor);
    const file = await readLedgerFile(options.path, options.logger);
    if (file) {
      ledger.seqValue = file.seq;
      for (const loan of file.loans) ledger.insert(loan);
      for (const [txn, outcome] of file.txns) ledger.txns.set(txn, outcome);
      // Without a library system to replay to (it was taken out of the config), nothing is kept.
      if (options.replayFor !== undefined) ledger.unsettledEvents = file.unsettled ?? [];
      else if (file.unsettled?.length) ledger.dirty = true;
    }
    return ledger;
  }

  /** The highest journal sequence reflected. */
  get seq(): number {
    return this.seqValue;
  }

  get size(): number {
    return this.loans.size;
  }

  loanOfItem(itemId: string): Loan | undefined {
    const loanId = this.byItem.get(itemId);
    return loanId === undefined ? undefined : this.loans.get(loanId);
  }

  loansOf(personId: string): Loan[] {
    return [...(this.byPerson.get(personId) ?? [])]
      .map((id) => this.loans.get(id) as Loan)
      .sort((a, b) => a.checkedOutAt.localeCompare(b.checkedOutAt));
  }

  allLoans(): Loan[] {
    return [...this.loans.values()];
  }

  /** The station's locally decided events not yet settled with the library system, oldest first. */
  unsettled(): readonly UnsettledEvent[] {
    return this.unsettledEvents;
  }

  /** The id the library system knows an unsettled event by: `<device>:<seq>`. */
  unsettledId(event: Pick<UnsettledEvent, 'seq'>): string {
    return `${this.device}:${event.seq}`;
  }

  outcome(txn: string): TxnOutcome | undefined {
    return this.txns.get(txn);
  }

  /** Remembers a refusal (or an error) for its txn; kept with the next save. */
  remember(txn: string, outcome: TxnOutcome): void {
    this.txns.set(txn, outcome);
    this.trimTxns();
    this.dirty = true;
  }

  /**
   * Applies the journal's durable records after the ledger's sequence, up to `upTo`. Returns how many
   * library events it applied. Records already acknowledged and deleted cannot be read: a ledger
   * behind the oldest record kept is reported (it was lost or reset after its events left).
   */
  async catchUp(
    journal: LedgerJournal,
    replyOf: ReplyOf,
    upTo = journal.stats().durableSeq,
  ): Promise<number> {
    let applied = 0;
    while (this.seqValue < upTo) {
      const records = await journal.read(this.seqValue + 1, Math.min(READ_CHUNK, upTo - this.seqValue));
      if (records.length === 0) break;
      const first = records[0] as EventRecord;
      if (first.seq > this.seqValue + 1) {
        this.logger.warn(
          { ledgerSeq: this.seqValue, oldestKept: first.seq },
          'library ledger is behind the oldest journal record kept; loans journaled in between are missing',
        );
      }
      for (const record of records) {
        if (this.apply(record, replyOf)) applied += 1;
      }
    }
    return applied;
  }

  /** Writes the ledger durably when it changed. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    const file: LedgerFile = {
      v: 1,
      seq: this.seqValue,
      loans: [...this.loans.values()],
      txns: [...this.txns],
      ...(this.replayFor !== undefined ? { unsettled: this.unsettledEvents } : {}),
    };
    await writeFileDurable(this.path, JSON.stringify(file));
    this.dirty = false;
  }

  private apply(record: EventRecord, replyOf: ReplyOf): boolean {
    if (record.seq <= this.seqValue) return false;
    this.seqValue = record.seq;
    this.dirty = true;
    if (!record.type.startsWith('library.')) return false;
    const data = record.data as Record<string, unknown>;
    const text = (key: string) => (typeof data[key] === 'string' ? (data[key] as string) : undefined);
    const itemId = text('itemId');
    if (!itemId) return false;
    const loanId = text('loanId');
    // The event again, once the library system was sent it (or refused it): it settles the locally
    // decided one it names and changes no loan, since the desk's event already did.
    if (data.replay !== undefined) {
      const of = (data.replay as { of?: unknown } | null)?.of;
      if (typeof of === 'string') this.settle(of);
      return true;
    }
    switch (record.type) {
      case 'library.checkout': {
        const personId = text('personId');
        const dueAt = text('dueAt');
        // A loan already held, journaled again (replayed to the library system): nothing changes.
        if (!loanId || !personId || !dueAt || this.loans.has(loanId)) return false;
        // A loan the library system made for an item this ledger thought lent: the newer one stands.
        const previous = this.loanOfItem(itemId);
        if (previous) this.remove(previous.loanId);
        const cardId = text('cardId');
        this.insert({
          loanId,
          itemId,
          personId,
          ...(cardId ? { cardId } : {}),
          station: text('station') ?? '',
          checkedOutAt: record.at,
          dueAt,
          renewals: 0,
          source: text('source') ?? 'local',
        });
        break;
      }
      case 'library.return': {
        const loan = (loanId ? this.loans.get(loanId) : undefined) ?? this.loanOfItem(itemId);
        if (loan) this.remove(loan.loanId);
        break;
      }
      case 'library.renew': {
        const loan = (loanId ? this.loans.get(loanId) : undefined) ?? this.loanOfItem(itemId);
        const dueAt = text('dueAt');
        if (loan && dueAt) {
          loan.dueAt = dueAt;
          loan.renewals = typeof data.renewals === 'number' ? data.renewals : loan.renewals + 1;
        }
        break;
      }
      default:
        return false;
    }
    this.track(record, text('station'), text('source'));
    const txn =
      text('txn') ??
      (loanId?.startsWith(`${this.device}:`) ? loanId.slice(this.device.length + 1) : undefined);
    if (txn) {
      this.txns.set(txn, {
        name: record.type as TerminalRequestName,
        itemId,
        reply: replyOf(record),
      });
      this.trimTxns();
    }
    return true;
  }

  private track(record: EventRecord, station: string | undefined, source: string | undefined): void {
    if (this.replayFor === undefined || station !== this.replayFor) return;
    if (source === 'local') {
      this.unsettledEvents.push({
        seq: record.seq,
        type: record.type as UnsettledEvent['type'],
        at: record.at,
        ...clockStampOf(record),
        data: record.data,
      });
    } else if (source === 'sip2' && this.unsettledEvents.length > 0) {
      // The station asks its library system again only once everything is settled: whatever is left
      // is from before (a ledger rebuilt from the journal, a library system configured since).
      this.logger.warn(
        { station, unsettled: this.unsettledEvents.length, seq: record.seq },
        'library events decided locally before the library system decided again: taken as settled',
      );
      this.unsettledEvents = [];
    }
  }

  private settle(id: string): void {
    const index = this.unsettledEvents.findIndex((event) => this.unsettledId(event) === id);
    if (index >= 0) this.unsettledEvents.splice(index, 1);
  }

  private insert(loan: Loan): void {
    this.loans.set(loan.loanId, loan);
    this.byItem.set(loan.itemId, loan.loanId);
    let held = this.byPerson.get(loan.personId);
    if (!held) {
      held = new Set();
      this.byPerson.set(loan.personId, held);
    }
    held.add(loan.loanId);
  }

  private remove(loanId: string): void {
    const loan = this.loans.get(loanId);
    if (!loan) return;
    this.loans.delete(loanId);
    if (this.byItem.get(loan.itemId) === loanId) this.byItem.delete(loan.itemId);
    const held = this.byPerson.get(loan.personId);
    held?.delete(loanId);
    if (held?.size === 0) this.byPerson.delete(loan.personId);
  }

  private trimTxns(): void {
    for (const txn of this.txns.keys()) {
      if (this.txns.size <= TXNS_KEPT) break;
      this.txns.delete(txn);
    }
  }
}

/**
 * The ledger file, or nothing: none yet, or damaged (then moved to quarantine, and the ledger is
 * rebuilt from whatever the journal still holds: loans whose events the bridge already took and the
 * journal deleted are not known here any more, and are in the bridge's loan ledger).
 */
async function readLedgerFile(path: string, logger: Logger): Promise<LedgerFile | undefined> {
  const stored = new DurableJsonFile<LedgerFile>(path, (value) => {
    const file = value as Partial<LedgerFile> | null;
    return typeof file?.seq === 'number' && Array.isArray(file.loans) && Array.isArray(file.txns);
  });
  const file = await stored.read();
  if (stored.damaged) {
    logger.error(
      { reason: stored.damaged.reason, quarantinedAs: stored.damaged.quarantinedAs },
      'library ledger was damaged: kept aside, rebuilt from the journal; loans older than its oldest record are in the bridge’s ledger',
    );
  }
  return file ?? undefined;
}
