import {
  clockStampOf,
  type EventBody,
  type EventRecord,
  LibraryCheckoutData,
  LibraryRenewData,
  type LibraryReplay,
  LibraryReturnData,
} from '@educard/terminal-sdk';
import type { Logger } from '../../log/index.js';
import type { LibraryBackend, ReplayOutcome, ReplayTransaction } from './backend.js';
import type { LedgerJournal, LoanLedger, UnsettledEvent } from './ledger.js';

/**
 * The transaction to replay for a journaled library event the station decided locally (`source:
 * 'local'`), or undefined for any other record. Its id is `<device>:<seq>`: stable across restarts.
 */
export function replayTransactionOf(
  record: Pick<EventRecord, 'device' | 'seq' | 'at' | 'type' | 'data'>,
): ReplayTransaction | undefined {
  if (record.data.source !== 'local') return undefined;
  const id = `${record.device}:${record.seq}`;
  const at = record.at;
  switch (record.type) {
    case 'library.checkout': {
      const data = LibraryCheckoutData.safeParse(record.data);
      if (!data.success) return undefined;
      const { personId, cardId, itemId, dueAt } = data.data;
      return { kind: 'checkout', id, at, personId, ...(cardId ? { cardId } : {}), itemId, dueAt };
    }
    case 'library.return': {
      const data = LibraryReturnData.safeParse(record.data);
      return data.success ? { kind: 'return', id, at, itemId: data.data.itemId } : undefined;
    }
    case 'library.renew': {
      const data = LibraryRenewData.safeParse(record.data);
      if (!data.success) return undefined;
      const { personId, itemId, dueAt } = data.data;
      return { kind: 'renew', id, at, personId, itemId, dueAt };
    }
    default:
      return undefined;
  }
}

/**
 * Schedules the next probe: calls `run` after `ms` and returns a cancel. Tests pass their own, to
 * fire the probe by hand (and await what it did: `run` resolves when the probe and any replay are
 * over, and never rejects).
 */
export type ProbeTimer = (run: () => Promise<void>, ms: number) => () => void;

export const realProbeTimer: ProbeTimer = (run, ms) => {
  const timer = setTimeout(() => {
    run().catch(() => undefined);
  }, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

export const DEFAULT_PROBE_INTERVAL_MS = 30_000;

export interface OfflineReplayDeps {
  station: string;
  device: string;
  backend: LibraryBackend & Required<Pick<LibraryBackend, 'replay'>>;
  ledger: LoanLedger;
  journal: LedgerJournal;
  logger: Logger;
  /** The time of day, for `replay.at`. */
  now: () => number;
  timer: ProbeTimer;
  /** Runs a step in the station's queue of transactions: the journal and the ledger change one step at a time. */
  serialise: <T>(step: () => Promise<T>) => Promise<T>;
  /** Brings the ledger up to the journal's record `seq` (all durable ones by default) and saves it. */
  follow: (seq?: number) => Promise<void>;
}

/**
 * A station's way back to its library system. Once the backend could not be reached, the station
 * decides locally (`deciding === 'local'`) and this probes the backend every `probeIntervalMs`; when
 * it answers, the station's unsettled local events are replayed, oldest first, and each outcome is
 * journaled again as the same event with `source: 'sip2-replayed'` and `replay` (refused ones too,
 * with a warning in the log). Events the desk decides meanwhile are replayed in the same round; only
 * when none is left does the station ask the backend again. A replay cut short waits for the next probe.
 */
export class OfflineReplay {
  private local = false;
  private stopped = false;
  private cancel: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private readonly intervalMs: number;
  private readonly log: Logger;

  constructor(private readonly deps: OfflineReplayDeps) {
    this.intervalMs = deps.backend.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.log = deps.logger;
  }

  /** Whether the station asks its backend now, or decides locally until the replay is complete. */
  get deciding(): 'backend' | 'local' {
    return this.local ? 'local' : 'backend';
  }

  /** Whether a replay to the library system is under way. */
  get replaying(): boolean {
    return this.running !== undefined;
  }

  /** At start: events left unsettled before are replayed first, and the station decides locally until then. */
  start(): void {
    if (this.deps.ledger.unsettled().length === 0) return;
    this.local = true;
    this.schedule(0);
  }

  /** The backend could not be reached: decide locally, and probe it until it is back. */
  fellBack(): void {
    if (this.stopped) return;
    this.local = true;
    if (!this.running && !this.cancel) this.schedule(this.intervalMs);
  }

  /** No more probes; a replay under way ends at its next step (stop the backend to cut its request). */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  /** Resolves once a probe or replay under way is over. */
  async idle(): Promise<void> {
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancel = this.deps.timer(() => this.run(), ms);
  }

  private run(): Promise<void> {
    this.cancel = undefined;
    if (this.stopped || !this.local) return Promise.resolve();
    if (!this.running) {
      this.running = this.round().finally(() => {
        this.running = undefined;
        // Still (or again) deciding locally: the next probe. Set here, after the round, so that a
        // fall-back while the round ended is not left without one.
        if (this.local && !this.cancel) this.schedule(this.intervalMs);
      });
    }
    return this.running;
  }

  /** One probe, and the replay when the backend answers. Never throws. */
  private async round(): Promise<void> {
    const { backend, ledger, serialise, station } = this.deps;
    try {
      if (backend.probe && !(await backend.probe())) {
        this.log.debug({ station }, 'library system still unreachable');
        return;
      }
      for (;;) {
        if (this.stopped) return;
        const events = [...ledger.unsettled()];
        if (events.length === 0) {
          // Checked again in the queue, so that no local decision slips in between.
          const done = await serialise(async () => {
            await this.deps.follow();
            if (ledger.unsettled().length > 0) return false;
            this.local = false;
            return true;
          });
          if (!done) continue;
          this.log.info({ station }, 'library system back and every offline transaction replayed');
          return;
        }
        this.log.info({ station, transactions: events.length }, 'library system back: replaying');
        const transactions: ReplayTransaction[] = [];
        for (const event of events) {
          const transaction = replayTransactionOf({ ...event, device: this.deps.device });
          if (transaction) transactions.push(transaction);
          else await serialise(() => this.journal(unreadable(event, ledger.unsettledId(event))));
        }
        const report = await backend.replay(transactions, (outcome) =>
          serialise(() => this.journal(outcome)),
        );
        if (!report.complete) return;
        const left = ledger.unsettled();
        if (events.some((event) => left.includes(event))) {
          throw new Error('the backend replayed without settling every transaction it was given');
        }
      }
    } catch (error) {
      this.log.error({ err: error, station }, 'library replay failed; trying again at the next probe');
    }
  }

  /** Journals an outcome as the event it settles, again, and lets the ledger take it. */
  private async journal(outcome: ReplayOutcome): Promise<void> {
    const { ledger, journal, station } = this.deps;
    const event = ledger.unsettled().find((e) => ledger.unsettledId(e) === outcome.id);
    if (!event) return;
    const refused = outcome.status === 'refused';
    const replay: LibraryReplay = {
      of: outcome.id,
      at: new Date(this.deps.now()).toISOString(),
      ...(outcome.already ? { already: true } : {}),
      ...(refused
        ? {
            refused: true,
            reason: outcome.reason ?? 'library-refused',
            ...(outcome.message ? { message: outcome.message } : {}),
          }
        : {}),
    };
    const data = {
      ...event.data,
      ...(outcome.dueAt && !refused && event.type !== 'library.return' ? { dueAt: outcome.dueAt } : {}),
      source: 'sip2-replayed',
      replay,
    };
    // The moment of the transaction, not of the replay: the event says what happened at the desk then.
    const record = journal.append({
      type: event.type,
      at: event.at,
      ...clockStampOf(event),
      data,
    } as EventBody);
    await journal.durable(record.seq);
    await this.deps.follow(record.seq);
    const fields = {
      station,
      seq: record.seq,
      of: outcome.id,
      type: event.type,
      item: outcome.itemId,
      ...(typeof event.data.personId === 'string' ? { personId: event.data.personId } : {}),
    };
    if (refused) {
      this.log.warn(
        { ...fields, reason: replay.reason, message: outcome.message },
        'the library system refused a transaction the desk decided offline: the loan needs a librarian',
      );
    } else {
      this.log.info({ ...fields, already: outcome.already ?? false }, 'offline library transaction settled');
    }
  }
}

/** An event that makes no transaction (its data is not what the contract says): settled as refused, never sent. */
function unreadable(event: UnsettledEvent, id: string): ReplayOutcome {
  const itemId = typeof event.data.itemId === 'string' ? event.data.itemId : '';
  const kind =
    event.type === 'library.checkout' ? 'checkout' : event.type === 'library.return' ? 'return' : 'renew';
  return {
    id,
    kind,
    itemId,
    status: 'refused',
    reason: 'library-refused',
    message: 'not sent to the library system: the event does not hold a transaction',
  };
}
