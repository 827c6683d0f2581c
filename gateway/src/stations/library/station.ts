import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CardEntry,
  type ClockStamp,
  DEFAULT_LOAN_RULES,
  type Direction,
  daysLate,
  type EventRecord,
  type LoanRules,
  SerialQueue,
  SPEC_VERSION,
  type StationTap,
  type TerminalRequest,
} from '@educard/terminal-sdk';
import type { CatalogueView } from '../../catalogue/index.js';
import type { EventBus } from '../../events/index.js';
import { type Logger, maskCardId } from '../../log/index.js';
import {
  type ClockReading,
  type Decision,
  decide,
  PassbackState,
  type PolicyConfig,
} from '../../policy/index.js';
import type { CardPresented } from '../../readers/index.js';
import type { RosterView } from '../../roster/index.js';
import { StationTaps } from '../taps.js';
import type {
  RecentTap,
  Station,
  StationEvents,
  StationReply,
  TapOutcome,
  TerminalStation,
} from '../types.js';
import {
  type BackendResult,
  BackendUnavailable,
  type LibraryBackend,
  type LibraryBlock,
  type LibraryRefusal,
  type PatronRef,
} from './backend.js';
import { type LedgerJournal, type Loan, LoanLedger, type TxnOutcome } from './ledger.js';
import { LocalLedgerBackend } from './local-backend.js';
import { blockOf, patronOf, refusalMessage, type Standing, standingOf } from './patron.js';
import { OfflineReplay, type ProbeTimer, realProbeTimer } from './replay.js';

export interface LibraryStationConfig {
  id: string;
  zone: string;
  /** The same card on the same reader again within this long is one tap. */
  debounceMs: number;
}

export interface LibraryStationDeps {
  config: LibraryStationConfig;
  /** The device id: loans are journaled as `<device>:<txn>`. */
  device: string;
  /** Where the station keeps its ledger (`dataDir/library`). */
  dataDir: string;
  roster: () => RosterView | undefined;
  catalogue: () => CatalogueView | undefined;
  clock: { read(): ClockReading; stamp(reading: ClockReading): ClockStamp };
  /** The gateway's journal: appended to, waited on, and read back to rebuild the ledger. */
  journal: LedgerJournal;
  policy: PolicyConfig;
  logger: Logger;
  /**
   * The library system of record (SIP2, made by the runtime: see {@link LibraryBackendFactory}); without one, or while it is
   * unreachable, the local ledger decides.
   */
  backend?: LibraryBackend;
  /** Schedules the probes of an unreachable backend (tests fire them by hand). */
  probeTimer?: ProbeTimer;
}

const DAY_MS = 86_400_000;
/** A desk where a card was tapped or a request made this recently still has a patron at it. */
const DESK_SESSION_MS = 120_000;

type OfflineReplayBackend = LibraryBackend & Required<Pick<LibraryBackend, 'replay'>>;

/**
 * A library desk. A tap shows the patron and their account; the desk page checks items out and in
 * and renews them by request. The card is checked against the roster here (the gateway's policy at
 * the library's zone); loans are decided by the backend (the library system over SIP2) or, without
 * one or while it is unreachable, by the local ledger. Each transaction is journaled and made
 * durable before the ledger takes it and before it is answered; a transaction id answered once is
 * answered the same again, however often the page sends it.
 */
export class LibraryStation implements Station, TerminalStation {
  readonly kind = 'library' as const;
  private ledgerValue: LoanLedger | undefined;
  private local: LocalLedgerBackend | undefined;
  private replay: OfflineReplay | undefined;
  private readonly queue = new SerialQueue();
  private readonly taps: StationTaps<TapOutcome>;
  private open = 0;
  private lastActivity = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: LibraryStationDeps) {
    this.taps = new StationTaps(deps.config.debounceMs, deps.logger);
  }

  get events(): EventBus<StationEvents> {
    return this.taps.events;
  }

  busy(): string | undefined {
    if (this.open > 0) return `a library transaction is open at ${this.id}`;
    if (this.replay?.replaying) return `offline loans of ${this.id} are being replayed to the library system`;
    if (performance.now() - this.lastActivity < DESK_SESSION_MS)
      return `a patron is at the library desk ${this.id}`;
    return undefined;
  }

  get id(): string {
    return this.deps.config.id;
  }

  /** The station's ledger (after start). */
  get ledger(): LoanLedger {
    if (!this.ledgerValue) throw new Error(`library station ${this.id} is not started`);
    return this.ledgerValue;
  }

  /**
   * Where transactions are decided now: by the backend, or locally (no backend, or one that could not
   * be reached, until what the desk did meanwhile is replayed); and how many are waiting for it.
   */
  get deciding(): { by: 'backend' | 'local'; unsettled: number } {
    const by = this.deps.backend ? (this.replay?.deciding ?? 'backend') : 'local';
    return { by, unsettled: this.ledgerValue?.unsettled().length ?? 0 };
  }

  /**
   * Opens the ledger and brings it up to the journal: whatever was journaled before a crash is taken.
   * Offline transactions left unsettled are replayed first (the station decides locally until then).
   */
  async start(): Promise<void> {
    const { dataDir, device, logger, journal, backend } = this.deps;
    await mkdir(dataDir, { recursive: true });
    const replays = backend?.replay ? (backend as OfflineReplayBackend) : undefined;
    const ledger = await LoanLedger.open({
      path: join(dataDir, `${this.id}.ledger.json`),
      device,
      logger,
      ...(replays ? { replayFor: this.id } : {}),
    });
    this.ledgerValue = ledger;
    this.local = new LocalLedgerBackend(ledger, this.deps.catalogue);
    const applied = await ledger.catchUp(journal, (record) => this.replyOf(record));
    await ledger.save();
    await backend?.start?.();
    if (replays) {
      this.replay = new OfflineReplay({
        station: this.id,
        device,
        backend: replays,
        ledger,
        journal,
        logger,
        now: () => this.deps.clock.read().now,
        timer: this.deps.probeTimer ?? realProbeTimer,
        serialise: (step) => this.queue.run(step),
        follow: (seq) => this.follow(seq),
      });
      this.replay.start();
    }
    logger.info(
      {
        station: this.id,
        loans: ledger.size,
        seq: ledger.seq,
        caughtUp: applied,
        backend: backend?.source ?? 'none',
        unsettled: ledger.unsettled().length,
      },
      'library station started',
    );
  }

  async stop(): Promise<void> {
    this.replay?.stop();
    await this.queue.idle();
    // Stopping the backend cuts a replay's request short; its outcomes so far are journaled.
    await this.deps.backend?.stop?.();
    await this.replay?.idle();
    await this.queue.idle();
    await this.ledgerValue?.save();
  }

  tap(card: CardPresented, reader: { name: string; direction: Direction }): TapOutcome | undefined {
    const { config, clock, policy } = this.deps;
    const seenAt = performance.now();
    this.lastActivity = seenAt;
    if (this.taps.repeats(reader.name, card, seenAt)) return undefined;

    const reading = clock.read();
    // No anti-passback at a desk: a fresh state each time, and no direction.
    const decision = decide(
      card,
      { zone: config.zone, direction: 'none' },
      this.deps.roster(),
      reading,
      new PassbackState(),
      policy,
    );
    const at = new Date(reading.now).toISOString();
    const terminal = this.terminalTap(decision, reader.name, at, reading.now);
    const outcome = { decision, reader: reader.name, at, actedAt: performance.now(), terminal };
    return this.taps.report(outcome, seenAt, 'library tap', { station: config.id });
  }

  /** What the desk's page shows of a tap: the patron, their loans and what keeps them from borrowing. */
  private terminalTap(decision: Decision, reader: string, at: string, now: number): StationTap {
    const tap: StationTap = {
      v: SPEC_VERSION,
      station: this.id,
      kind: 'library',
      reader,
      at,
      card: maskCardId(decision.cardId),
      decision: decision.decision,
      reason: decision.reason,
    };
    const found = decision.card;
    if (!found) return tap;
    const block = blockOf(decision);
    const rules = this.rulesFor(found.role);
    const loans = this.ledgerValue?.loansOf(found.personId) ?? [];
    const blocks: LibraryBlock[] = block ? [block] : [];
    if (loans.some((loan) => Date.parse(loan.dueAt) < now)) blocks.push('overdue-items');
    if (loans.length >= rules.loanLimit) blocks.push('loan-limit');
    return {
      ...tap,
      patron: patronOf(found),
      detail: {
        loans: loans.map((loan) => this.loanView(loan, now)),
        loanLimit: rules.loanLimit,
        blocks,
        canBorrow: blocks.length === 0,
      },
    };
  }

  /** A book's tag at the desk's reader: its page takes it as a barcode its scanner typed. */
  item(reader: string, itemId: string, at: string): boolean {
    this.taps.events.emit('item', { v: SPEC_VERSION, station: this.id, reader, itemId, at });
    return true;
  }

  recentTaps(): RecentTap[] {
    return this.taps.list();
  }

  handle(request: TerminalRequest): Promise<StationReply> {
    this.open += 1;
    this.lastActivity = performance.now();
    // One transaction at a time: each decides on the ledger the one before left.
    return this.queue
      .run(() => this.handleNow(request))
      .finally(() => {
        this.open -= 1;
        this.lastActivity = performance.now();
      });
  }

  /** Brings the ledger up to the journal (through `seq`) and saves it. */
  private async follow(seq?: number): Promise<void> {
    await this.ledger.catchUp(this.deps.journal, (record) => this.replyOf(record), seq);
    await this.ledger.save();
  }

  private async handleNow(request: TerminalRequest): Promise<StationReply> {
    const ledger = this.ledger;
    await ledger.catchUp(this.deps.journal, (record) => this.replyOf(record));
    switch (request.name) {
      case 'library.patron':
        return this.patron(request.args.personId);
      case 'library.checkout':
      case 'library.return':
      case 'library.renew': {
        const { txn, itemId } = request.args;
        const held = ledger.outcome(txn);
        if (held) return this.repeat(held, request.name, itemId);
        const reply = await this.transact(request);
        if (reply.status !== 'ok') {
          ledger.remember(txn, { name: request.name, itemId, reply });
          await ledger.save();
        }
        return reply;
      }
      default:
        return {
          status: 'error',
          reason: 'unknown-request',
          message: `${request.name} is not for a library desk`,
        };
    }
  }

  /** The same txn again: the first answer, unless it is another transaction under a used id. */
  private repeat(held: TxnOutcome, name: string, itemId: string): StationReply {
    if (held.name !== name || held.itemId !== itemId) {
      return {
        status: 'error',
        reason: 'txn-reused',
        message: `transaction id already used for ${held.name} of ${held.itemId}`,
      };
    }
    return held.reply;
  }

  private async patron(personId: string): Promise<StationReply> {
    const reading = this.deps.clock.read();
    const standing = this.standing(personId, reading);
    if (!standing.ok && !standing.card) return this.refused(standing.reason);
    const card = standing.card as CardEntry;
    const rules = this.rulesFor(card.role);
    const ref: PatronRef = { personId, role: card.role, cardId: card.cardId };
    const { result: status, source } = await this.withBackend((backend) =>
      backend.patronStatus(ref, { at: new Date(reading.now), rules }),
    );
    const blocks: LibraryBlock[] = [
      ...(standing.ok ? [] : [standing.reason as LibraryBlock]),
      ...status.blocks,
    ];
    const catalogue = this.deps.catalogue();
    return {
      status: 'ok',
      data: {
        patron: patronOf(card),
        loans: status.loans.map((loan) => {
          // What the backend does not say (a library system over SIP2), the ledger may know.
          const known = this.ledger.loanOfItem(loan.itemId);
          const mine = known?.personId === personId ? known : undefined;
          const title = loan.title ?? catalogue?.item(loan.itemId)?.title;
          const dueAt = loan.dueAt ?? mine?.dueAt;
          const renewals = loan.renewals ?? mine?.renewals;
          return {
            itemId: loan.itemId,
            ...(title ? { title } : {}),
            ...(dueAt ? { dueAt, overdue: Date.parse(dueAt) < reading.now } : { overdue: false }),
            ...(renewals !== undefined ? { renewals } : {}),
            ...(this.elsewhere(loan.itemId) ? { elsewhere: true } : {}),
          };
        }),
        loanLimit: status.loanLimit,
        blocks,
        canBorrow: blocks.length === 0,
        source,
      },
    };
  }

  private async transact(request: TerminalRequest): Promise<StationReply> {
    const { config, clock, device, journal, logger } = this.deps;
    const reading = clock.read();
    const at = new Date(reading.now);
    const base = { station: config.id, at };
    let record: EventRecord;
    if (request.name === 'library.checkout') {
      const { personId, itemId, txn } = request.args;
      const standing = this.standing(personId, reading);
      if (!standing.ok) return this.refused(standing.reason);
      const { card } = standing;
      const rules = this.rulesFor(card.role);
      const loanId = `${device}:${txn}`;
      const { result, source } = await this.withBackend((backend) =>
        backend.checkout({
          ...base,
          txn,
          patron: { personId, role: card.role, cardId: card.cardId },
          itemId,
          loanId,
          rules,
          dueAt: new Date(reading.now + rules.loanDays * DAY_MS),
        }),
      );
      if (!result.ok) return this.refusedBy(result);
      record = journal.append({
        type: 'library.checkout',
        at: at.toISOString(),
        ...clock.stamp(reading),
        data: {
          station: config.id,
          loanId: result.loanId,
          personId,
          cardId: card.cardId,
          itemId,
          dueAt: result.dueAt,
          source,
          txn,
        },
      });
    } else if (request.name === 'library.return') {
      const { itemId, txn } = request.args;
      if (this.elsewhere(itemId)) return this.refused('item-elsewhere');
      const { result, source } = await this.withBackend((backend) =>
        backend.return({ ...base, txn, itemId }),
      );
      if (!result.ok) return this.refusedBy(result);
      // What the backend does not say (a library system over SIP2), the ledger's loan of the item
      // does, unless the library system named another patron.
      const known = this.ledger.loanOfItem(itemId);
      const loan = known && (result.personId ?? known.personId) === known.personId ? known : undefined;
      const loanId = result.loanId ?? loan?.loanId;
      const personId = result.personId ?? loan?.personId;
      const overdueDays = result.overdueDays ?? (loan ? daysLate(loan.dueAt, at) : undefined);
      record = journal.append({
        type: 'library.return',
        at: at.toISOString(),
        ...clock.stamp(reading),
        data: {
          station: config.id,
          ...(loanId ? { loanId } : {}),
          itemId,
          ...(personId ? { personId } : {}),
          ...(overdueDays ? { overdueDays } : {}),
          source,
          txn,
        },
      });
    } else if (request.name === 'library.renew') {
      const { personId, itemId, txn } = request.args;
      if (this.elsewhere(itemId)) return this.refused('item-elsewhere');
      const standing = this.standing(personId, reading);
      if (!standing.ok) return this.refused(standing.reason);
      const { card } = standing;
      const rules = this.rulesFor(card.role);
      const { result, source } = await this.withBackend((backend) =>
        backend.renew({
          ...base,
          txn,
          patron: { personId, role: card.role, cardId: card.cardId },
          itemId,
          rules,
          dueAt: new Date(reading.now + rules.loanDays * DAY_MS),
        }),
      );
      if (!result.ok) return this.refusedBy(result);
      // A library system over SIP2 names no loan and counts no renewals: the ledger's loan does.
      const known = this.ledger.loanOfItem(itemId);
      const loan = known?.personId === personId ? known : undefined;
      const loanId = result.loanId ?? loan?.loanId;
      const renewals = result.renewals ?? (loan ? loan.renewals + 1 : undefined);
      record = journal.append({
        type: 'library.renew',
        at: at.toISOString(),
        ...clock.stamp(reading),
        data: {
          station: config.id,
          ...(loanId ? { loanId } : {}),
          personId,
          itemId,
          dueAt: result.dueAt,
          ...(renewals !== undefined ? { renewals } : {}),
          source,
          txn,
        },
      });
    } else {
      return {
        status: 'error',
        reason: 'unknown-request',
        message: `${request.name} is not for a library desk`,
      };
    }
    // Journal first and durable, then the ledger from the journal: what the desk is told has happened
    // survives a power cut, and the ledger can always be rebuilt to agree with it.
    await journal.durable(record.seq);
    await this.follow(record.seq);
    logger.info(
      {
        station: config.id,
        seq: record.seq,
        type: record.type,
        item: (record.data as { itemId: string }).itemId,
        source: (record.data as { source: string }).source,
      },
      'library transaction',
    );
    return this.replyOf(record);
  }

  /** The answer a journaled transaction stands for: made from the event alone, so it never differs. */
  private replyOf(record: EventRecord): StationReply {
    const data = record.data as Record<string, unknown>;
    const itemId = String(data.itemId);
    const title = this.deps.catalogue()?.item(itemId)?.title;
    const pick = (...keys: string[]) =>
      Object.fromEntries(keys.filter((k) => data[k] !== undefined).map((k) => [k, data[k]]));
    const common = { ...pick('loanId', 'itemId', 'personId', 'source'), ...(title ? { title } : {}) };
    switch (record.type) {
      case 'library.checkout':
        return { status: 'ok', data: { ...common, ...pick('dueAt') } };
      case 'library.return':
        return { status: 'ok', data: { ...common, ...pick('overdueDays') } };
      default:
        return { status: 'ok', data: { ...common, ...pick('dueAt', 'renewals') } };
    }
  }

  /**
   * The backend's answer, or the local ledger's when there is no backend, it cannot be reached, or
   * (a backend that replays) what was decided locally since is not yet replayed to it.
   */
  private async withBackend<T>(
    call: (backend: LibraryBackend) => Promise<T>,
  ): Promise<{ result: T; source: 'local' | 'sip2' }> {
    const { backend, logger } = this.deps;
    const local = this.local as LocalLedgerBackend;
    if (backend && this.replay?.deciding !== 'local') {
      try {
        return { result: await call(backend), source: backend.source };
      } catch (error) {
        if (!(error instanceof BackendUnavailable)) throw error;
        logger.warn(
          { station: this.id, reason: error.message },
          this.replay
            ? 'library backend unavailable; deciding locally until it is back and replayed to'
            : 'library backend unavailable; deciding locally',
        );
        this.replay?.fellBack();
      }
    }
    return { result: await call(local), source: 'local' };
  }

  /** Whether the person may use the library now, by the roster in force: their card, found by person. */
  private standing(personId: string, reading: ClockReading): Standing {
    return standingOf(this.deps.roster(), personId, this.deps.config.zone, reading);
  }

  private rulesFor(role: CardEntry['role']): LoanRules {
    return this.deps.catalogue()?.rules[role] ?? DEFAULT_LOAN_RULES[role];
  }

  /**
   * An item of another school, lent through the library system the district shares: neither in this
   * school's catalogue nor in this desk's ledger. Without a library system or a catalogue nothing is
   * known to be elsewhere (an unknown barcode stays `unknown-item`).
   */
  private elsewhere(itemId: string): boolean {
    const catalogue = this.deps.catalogue();
    return (
      this.deps.backend !== undefined &&
      catalogue !== undefined &&
      catalogue.item(itemId) === undefined &&
      this.ledger.loanOfItem(itemId) === undefined
    );
  }

  private loanView(loan: Loan, now: number) {
    const title = this.deps.catalogue()?.item(loan.itemId)?.title;
    return {
      itemId: loan.itemId,
      ...(title ? { title } : {}),
      dueAt: loan.dueAt,
      overdue: Date.parse(loan.dueAt) < now,
    };
  }

  private refused(reason: LibraryRefusal): StationReply {
    return { status: 'refused', reason, message: refusalMessage(reason) };
  }

  private refusedBy(result: Extract<BackendResult<unknown>, { ok: false }>): StationReply {
    return {
      status: 'refused',
      reason: result.reason,
      ...(result.message ? { message: result.message } : {}),
    };
  }
}
