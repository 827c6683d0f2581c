import { createHash } from 'node:crypto';
import { backoffDelay, retriableStatus, retryAfterMs } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { DaySpan } from '../attendance/index.js';
import type { Directory } from '../directory/index.js';
import { type BridgeStore, logFailure } from '../store/index.js';
import { membershipAt, type Transfer, type TransferLog } from '../transfers/index.js';
import { type AbsenceDeps, AbsenceWatch } from './absence.js';
import type { NoticesConfig, NoticeWebhook } from './config.js';
import type { Burst } from './debounce.js';
import { pruneNotices, retireWebhooks } from './housekeeping.js';
import { NoticeLedger, type NoticePeople, type PendingDelivery } from './ledger.js';
import { type OverdueDeps, OverdueWatch } from './overdue.js';
import { signatureHeader } from './signature.js';
import type { NoticeKind, NoticeWebhookStatus } from './types.js';

export interface NoticesDeps {
  store: BridgeStore;
  directory: Directory;
  /** A pupil who changed school is the new school's from the transfer on: its webhook hears of them. */
  transfers?: TransferLog;
  config: NoticesConfig;
  /** What absence notices are counted from, and when a school day ends; without it neither goes. */
  attendance?: AbsenceDeps['attendance'] & OverdueDeps['attendance'];
  /** A school library's overdue list; without it a webhook's `overdueBooks` sends none. */
  overdueBooks?: OverdueDeps['overdueBooks'];
  /** Whether a school is in lockdown: its reminders of overdue books wait for the end of it. */
  lockedDown?: OverdueDeps['lockedDown'];
  logger: Logger;
  /** The clock (tests set it). */
  now?: () => number;
  /** Told how each delivery attempt ended (the bridge's metrics count them). */
  onDelivery?: (outcome: DeliveryOutcome) => void;
}

/** How one attempt at a delivery ended: delivered, to be tried again, or given up. */
export type DeliveryOutcome = 'delivered' | 'retry' | 'given-up';

/** A webhook as the service holds it: its settings and the key its rows are filed under. */
interface Hook extends NoticeWebhook {
  key: string;
  /** The URL without query or credentials: what logs and the status view may show. */
  shown: string;
}

/** Delivered deliveries are kept this long for the status view's counts, then pruned. */
const KEEP_DELIVERED_MS = 7 * 86_400_000;
/** Given-up deliveries are kept this long for the office to send again, then dropped (they name pupils). */
export const KEEP_GIVEN_UP_MS = 30 * 86_400_000;
/** How often what is kept no longer is pruned. */
const PRUNE_EVERY_MS = 3_600_000;
/** A Retry-After longer than this is not believed. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/** How many schools' days one round may compute for absence notices, over every webhook. */
const ABSENCE_SCHOOLS_PER_ROUND = 2;
/** How many schools' overdue lists (tens of ms each) one round may read for reminders, over every webhook. */
const OVERDUE_SCHOOLS_PER_ROUND = 1;
/** The days pupils were reminded of overdue books are kept longer than the longest interval between two. */
const KEEP_OVERDUE_TOLD_MS = 30 * 86_400_000;

type Outcome = { ok: true } | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

function hookKey(hook: NoticeWebhook): string {
  return createHash('sha256')
    .update(`${hook.school ?? '*'}\n${hook.url}`)
    .digest('hex')
    .slice(0, 16);
}

function kindsOf(hook: NoticeWebhook): NoticeKind[] {
  return [
    'passages',
    ...(hook.refusals ? (['refusals'] as const) : []),
    ...(hook.absence ? (['absences'] as const) : []),
    ...(hook.overdueBooks ? (['overdue-books'] as const) : []),
  ];
}

function shownUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname}`;
}

/**
 * Parent notices: on its own timer (never in the ingest path), reads new gate passages of pupils,
 * debounces them per pupil, batches the settled notices and POSTs them signed to each webhook, one
 * delivery at a time per webhook and in order, retrying with backoff.
 */
export class Notices {
  private readonly ledger: NoticeLedger;
  private readonly round: (now: number, people: NoticePeople, through: number) => void;
  private readonly absences: AbsenceWatch | undefined;
  private readonly overdue: OverdueWatch | undefined;
  private readonly hooks: Hook[];
  private readonly now: () => number;
  private readonly sending = new Map<string, Promise<void>>();
  private stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly deps: NoticesDeps) {
    this.ledger = new NoticeLedger(deps.store.database);
    this.round = deps.store.database.transaction((now: number, people: NoticePeople, through: number) =>
      this.stepEveryWebhook(now, people, through),
    );
    this.now = deps.now ?? Date.now;
    this.hooks = deps.config.webhooks.map((hook) => ({
      ...hook,
      key: hookKey(hook),
      shown: shownUrl(hook.url),
    }));
    for (const hook of this.hooks) this.ledger.register(hook.key);
    const { attendance, overdueBooks } = deps;
    this.absences = attendance
      ? new AbsenceWatch({ ...deps, attendance, ledger: this.ledger, logger: deps.logger })
      : undefined;
    this.overdue =
      attendance && overdueBooks
        ? new OverdueWatch({ ...deps, attendance, overdueBooks, ledger: this.ledger, logger: deps.logger })
        : undefined;
  }

  /**
   * Also after a stop: the instance that holds the notices' lease may lose it and take it again. First
   * forgets the webhooks taken out of the config (with none left too), logging the notices each had not
   * delivered; one configured again starts as a new webhook.
   */
  start(): void {
    try {
      const configured = this.hooks.map((hook) => hook.key);
      for (const { key, undelivered } of retireWebhooks(this.deps.store.database, configured))
        this.deps.logger.warn(
          { webhook: key, undelivered },
          'parent notices: a webhook no longer configured is forgotten, with the notices it had not delivered',
        );
      for (const key of configured) this.ledger.register(key);
    } catch (error) {
      logFailure(this.deps.logger, { err: error }, 'parent notices: the webhooks no longer configured stay');
    }
    if (!this.hooks.length) return;
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.timer = setInterval(() => this.tick(), this.deps.config.tickMs);
    this.deps.logger.info(
      { webhooks: this.hooks.map((h) => ({ key: h.key, school: h.school, url: h.shown })) },
      'parent notices started',
    );
  }

  /** Stops the timer and cuts a delivery under way (it stays pending and goes out after a restart). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await Promise.all(this.sending.values());
  }

  /** Per webhook: what waits, what was given up and the last error (`GET /v1/notices/status`). */
  status(school?: string): NoticeWebhookStatus[] {
    return this.hooks
      .filter((hook) => school === undefined || hook.school === school)
      .map((hook) => ({
        key: hook.key,
        ...(hook.school ? { school: hook.school } : {}),
        url: hook.shown,
        sends: kindsOf(hook),
        ...this.ledger.status(hook.key),
        ...(hook.absence ? { absenceHeld: this.absences?.held(hook.key) ?? [] } : {}),
      }));
  }

  /**
   * What the parents of a school's pupils were told on a date: of their absence, of their refusals at
   * the gate in the day's span, and the gates holding the school's absence notices back on it (offline
   * or just back: the watch waits for their passages).
   */
  parentNotices(school: string, date: string, span: DaySpan) {
    const heldBy = new Set<string>();
    for (const hook of this.hooks) {
      if (!hook.absence || (hook.school !== undefined && hook.school !== school)) continue;
      for (const hold of this.absences?.held(hook.key) ?? [])
        if (hold.school === school && hold.date === date) for (const gate of hold.gates) heldBy.add(gate);
    }
    return {
      absences: this.ledger.absenceNotices(school, date),
      refusals: this.ledger.refusalNotices(school, span),
      heldBy: [...heldBy].sort(),
    };
  }

  /** The reminders of overdue books sent to the parents of a school's pupils (on the librarian's list). */
  readonly overdueReminders = (school: string) => this.ledger.overdueReminders(school);

  /** The school of the webhook that gave up this delivery (absent for a district-wide one). */
  failedDelivery(id: string): { school?: string } | undefined {
    const hook = this.hookOfFailed(id);
    return hook ? { ...(hook.school ? { school: hook.school } : {}) } : undefined;
  }

  /** Sends a given-up delivery again (after the school fixed its receiver); false when there is none. */
  resend(id: string): boolean {
    const hook = this.hookOfFailed(id);
    if (!hook || !this.ledger.resend(id, this.now())) return false;
    this.deps.logger.info({ webhook: hook.key, delivery: id }, 'given-up notice delivery sent again');
    this.pump(hook);
    return true;
  }

  private hookOfFailed(id: string): Hook | undefined {
    const key = this.ledger.failedDelivery(id);
    return this.hooks.find((h) => h.key === key);
  }

  /** One round: advance every webhook's ledger, then send what is due. Also called by tests. */
  tick(): void {
    if (this.stopping.signal.aborted) return;
    const now = this.now();
    let people: NoticePeople;
    let through: number;
    try {
      people = this.people();
      through = this.deps.store.settledEventId();
    } catch (error) {
      // The next round tries again.
      logFailure(this.deps.logger, { err: error }, 'parent notices: the store cannot be read');
      return;
    }
    this.stepDaily(now);
    try {
      this.round(now, people, through);
    } catch (error) {
      // Every webhook's step of this round is undone; the next round does it again.
      logFailure(this.deps.logger, { err: error }, 'parent notices: the round could not be stored');
    }
    // After the commit: a delivery goes out only once it is stored.
    for (const hook of this.hooks) this.pump(hook);
    if (now - this.prunedAt >= PRUNE_EVERY_MS) this.prune(now);
  }

  private prune(now: number): void {
    try {
      const dropped = pruneNotices(this.deps.store.database, {
        deliveredBefore: now - KEEP_DELIVERED_MS,
        givenUpBefore: now - KEEP_GIVEN_UP_MS,
        overdueBefore: now - KEEP_OVERDUE_TOLD_MS,
      });
      for (const { webhook, deliveries, notices } of dropped)
        this.deps.logger.warn(
          { webhook, deliveries, notices },
          'parent notices: deliveries given up 30 days ago and never sent again are dropped',
        );
      this.prunedAt = now;
    } catch (error) {
      logFailure(this.deps.logger, { err: error }, 'parent notices: the old deliveries could not be pruned');
    }
  }

  /**
   * The absence and overdue-book watches of each webhook that has them on, before the round and
   * outside its transaction: a watch remembers which schools it has looked at, so what it queues must be
   * stored whatever becomes of the round (each queueing is its own commit, a few a day per school). The
   * round then batches them with the passages' notices.
   */
  private stepDaily(now: number): void {
    const budget = { absences: ABSENCE_SCHOOLS_PER_ROUND, overdue: OVERDUE_SCHOOLS_PER_ROUND };
    for (const hook of this.hooks) {
      try {
        if (hook.absence && this.absences) budget.absences -= this.absences.step(hook, now, budget.absences);
      } catch (error) {
        logFailure(
          this.deps.logger,
          { webhook: hook.key, err: error },
          'parent notices: absence notices could not be queued',
        );
      }
      try {
        if (hook.overdueBooks && this.overdue) budget.overdue -= this.overdue.step(hook, now, budget.overdue);
      } catch (error) {
        logFailure(
          this.deps.logger,
          { webhook: hook.key, err: error },
          'parent notices: overdue-book reminders could not be queued',
        );
      }
    }
  }

  /**
   * Every webhook's step, in one transaction: one commit (one fsync) a round, not one per webhook (a
   * district's thousand school webhooks, each with a passage, would be a thousand a round). Each step
   * is a savepoint of it: one that fails is undone alone and logged, and the others stand.
   */
  private stepEveryWebhook(now: number, people: NoticePeople, through: number): void {
    const read = this.ledger.roundReader();
    for (const hook of this.hooks) {
      try {
        const step = this.ledger.advance(hook, now, people, through, read);
        if (step.stale)
          this.deps.logger.info(
            { webhook: hook.key, stale: step.stale },
            'late passages older than notices sent: skipped',
          );
        if (step.untold.late || step.untold.lockdown)
          this.deps.logger.info(
            { webhook: hook.key, ...step.untold },
            'gate rows not told to parents: read too late, or refusals of a lockdown',
          );
      } catch (error) {
        logFailure(this.deps.logger, { webhook: hook.key, err: error }, 'parent notices: step failed');
      }
    }
  }

  /** Starts the webhook's next due delivery unless one is under way. */
  private pump(hook: Hook): void {
    if (this.sending.has(hook.key) || this.stopping.signal.aborted) return;
    let delivery: PendingDelivery | undefined;
    try {
      delivery = this.ledger.nextDelivery(hook.key);
    } catch (error) {
      // Also called when a delivery settles, where a throw would be a rejection nobody handles.
      logFailure(
        this.deps.logger,
        { webhook: hook.key, err: error },
        'parent notices: the next delivery could not be read',
      );
      return;
    }
    if (!delivery || Date.parse(delivery.nextAttemptAt) > this.now()) return;
    const sent = this.send(hook, delivery)
      .catch((error: unknown) => {
        this.deps.logger.error(
          { webhook: hook.key, err: error },
          'parent notices: delivery bookkeeping failed',
        );
        return false;
      })
      .then((next) => {
        this.sending.delete(hook.key);
        // A delivery settled: the next one need not wait for the timer.
        if (next) this.pump(hook);
      });
    this.sending.set(hook.key, sent);
  }

  /** Sends one delivery and files the outcome; true when the next delivery may go at once. */
  private async send(hook: Hook, delivery: PendingDelivery): Promise<boolean> {
    const outcome = await this.post(hook, delivery);
    // Stopping cut the request: not an attempt; the delivery goes out again after the restart.
    if (this.stopping.signal.aborted) return false;
    const now = this.now();
    const log = { webhook: hook.key, url: hook.shown, delivery: delivery.id, notices: delivery.notices };
    if (outcome.ok) {
      this.ledger.delivered(hook.key, delivery.seq, now);
      this.deps.onDelivery?.('delivered');
      this.deps.logger.info({ ...log, attempts: delivery.attempts + 1 }, 'parent notices delivered');
      return true;
    }
    const attempts = delivery.attempts + 1;
    if (!outcome.retry || attempts >= hook.maxAttempts) {
      this.ledger.givenUp(hook.key, delivery.seq, outcome.error, now);
      this.deps.onDelivery?.('given-up');
      this.deps.logger.error({ ...log, attempts, error: outcome.error }, 'parent notices given up');
      return true;
    }
    const backoff = backoffDelay(attempts - 1, hook.backoff.initialMs, hook.backoff.maxMs);
    const delay = Math.max(backoff, outcome.retryAfterMs ?? 0);
    this.ledger.retryLater(hook.key, delivery.seq, outcome.error, now + delay, now);
    this.deps.onDelivery?.('retry');
    this.deps.logger.warn(
      { ...log, attempts, error: outcome.error, retryInMs: Math.round(delay) },
      'parent notices not delivered: will retry',
    );
    return false;
  }

  private async post(hook: Hook, delivery: PendingDelivery): Promise<Outcome> {
    const t = Math.floor(this.now() / 1000);
    try {
      const response = await fetch(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'educard-bridge',
          'x-educard-delivery': delivery.id,
          'x-educard-signature': signatureHeader(hook.secret, delivery.body, t),
        },
        body: delivery.body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(hook.timeoutMs), this.stopping.signal]),
      });
      await response.body?.cancel();
      if (response.ok) return { ok: true };
      const error = `HTTP ${response.status}`;
      if (retriableStatus(response.status)) {
        const asked = retryAfterMs(response.headers.get('retry-after'));
        const after = asked === undefined ? undefined : Math.min(asked, MAX_RETRY_AFTER_MS);
        return { ok: false, retry: true, error, ...(after ? { retryAfterMs: after } : {}) };
      }
      return { ok: false, retry: false, error };
    } catch (error) {
      const name = (error as Error).name;
      const reason =
        name === 'TimeoutError'
          ? `no answer in ${hook.timeoutMs} ms`
          : ((error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message);
      return { ok: false, retry: true, error: reason };
    }
  }

  /**
   * The pupils for one round. Where a pupil belonged at a passage: the gate's school, but for a pupil
   * who changed school (few: their transfers are read once per round). Who a burst is about, for the
   * notice: the person as they were at its latest passage (the directory's now, or as a school they
   * left had them), else the roster's cards (read once per school per round). No card ids: the notice
   * names the person.
   */
  private people(): NoticePeople {
    const moved = this.deps.transfers?.people() ?? new Set<string>();
    const histories = new Map<string, Transfer[]>();
    const membership = (personId: string, at: string) => {
      if (!moved.has(personId)) return undefined;
      let transfers = histories.get(personId);
      if (!transfers) {
        transfers = this.deps.transfers?.ofPerson(personId) ?? [];
        histories.set(personId, transfers);
      }
      return membershipAt(transfers, this.deps.directory.person(personId), { instant: at });
    };
    const rosters = new Map<string, Map<string, { name: string; class?: string }>>();
    const roster = (school: string) => {
      let found = rosters.get(school);
      if (!found) {
        found = new Map();
        for (const card of this.deps.store.rosterCards(school))
          if (!found.has(card.personId))
            found.set(card.personId, {
              name: card.displayName ?? card.personId,
              ...(card.class ? { class: card.class } : {}),
            });
        rosters.set(school, found);
      }
      return found;
    };
    const describe = (burst: Burst) => {
      const person =
        membership(burst.personId, burst.lastAt)?.person ?? this.deps.directory.person(burst.personId);
      if (person)
        return {
          school: burst.school,
          personId: burst.personId,
          ...(person.studentNumber ? { studentNumber: person.studentNumber } : {}),
          name: person.name,
          ...(person.class ? { class: person.class } : {}),
        };
      const card = roster(burst.school).get(burst.personId);
      return {
        school: burst.school,
        personId: burst.personId,
        name: card?.name ?? burst.personId,
        ...(card?.class ? { class: card.class } : {}),
      };
    };
    return {
      schoolOf: (personId, at, gateSchool) => membership(personId, at)?.school ?? gateSchool,
      describe,
    };
  }
}
