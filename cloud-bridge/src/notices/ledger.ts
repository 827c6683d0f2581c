import { randomUUID } from 'node:crypto';
import type { DenyReason } from '@educard/terminal-sdk';
import type { DaySpan, ParentNotice, RefusalParentNotice } from '../attendance/index.js';
import type { ParentReminder } from '../library/index.js';
import { migrateModule, type SqlDatabase } from '../store/index.js';
import { addPassage, type Burst, type BurstDirection, hasSettled, type Passage } from './debounce.js';
import type { AbsenceNotice, OverdueNotice, PassageNotice, RefusalNotice } from './notice.js';
import { NOTICES_STEPS } from './schema.js';

/** The last reminder of overdue books a pupil was sent: its school day, and when it was queued. */
export interface OverdueTold {
  date: string;
  at: string;
}

export interface PendingDelivery {
  seq: number;
  id: string;
  body: string;
  notices: number;
  attempts: number;
  nextAttemptAt: string;
}

/** The part of a webhook's settings the ledger needs. */
export interface LedgerWebhook {
  key: string;
  school?: string;
  /** Also refused entries (docs/notices.md#refusal-notices). */
  refusals?: boolean;
  debounceMs: number;
  batchWindowMs: number;
  batchMax: number;
}

/** A notice queued for a pupil, and how far its delivery got. */
interface ToldRow {
  person_id: string;
  created_at: string;
  status: 'pending' | 'delivered' | 'failed' | null;
  done_at: string | null;
}

const toldOf = (row: ToldRow): ParentNotice =>
  row.status === 'delivered' || row.status === 'failed'
    ? { state: row.status === 'failed' ? 'given-up' : 'delivered', at: row.done_at as string }
    : { state: 'waiting', at: row.created_at };

/** Which of a pupil's notices (one per webhook) a school's day shows: the one that got furthest. */
const NOTICE_RANK: Record<ParentNotice['state'], number> = { 'given-up': 0, waiting: 1, delivered: 2 };
const further = (notice: ParentNotice, than: ParentNotice | undefined) =>
  !than || NOTICE_RANK[notice.state] > NOTICE_RANK[than.state];

interface BurstRow {
  school: string;
  person_id: string;
  first_at: string;
  last_at: string;
  direction: BurstDirection;
  event_id: number;
  device: string;
  reason: DenyReason | null;
  open: number;
}

const toBurst = (row: BurstRow): Burst => ({
  school: row.school,
  personId: row.person_id,
  firstAt: row.first_at,
  lastAt: row.last_at,
  direction: row.direction,
  eventId: row.event_id,
  device: row.device,
  ...(row.reason ? { reason: row.reason } : {}),
  open: row.open === 1,
});

/** A row of gate_passages, or of gate_refusals (`direction` 'refused', with its reason). */
interface GateRow {
  event_id: number;
  school: string;
  person_id: string;
  at: string;
  direction: BurstDirection;
  reason: DenyReason | null;
  device: string;
  role: string | null;
}

/** The gate rows after a cursor, up to an event id (`NoticeLedger.roundReader`). */
export type RowReader = (after: number, through: number, refusals: boolean) => readonly GateRow[];

/**
 * A refusal read this long after it happened is not told: the moment to fetch the child has passed
 * (a gate's backlog after an outage), and the register shows it.
 */
export const REFUSAL_LATE_MS = 30 * 60_000;
/**
 * A passage read this long after it happened is not told: it no longer says where the pupil is (a
 * gate's backlog after a day offline, a bridge restored after the holidays), and the register shows it.
 */
export const PASSAGE_LATE_MS = 12 * 3_600_000;

export interface StepResult {
  read: number;
  stale: number;
  /** Gate rows not told: read too late (passages and refusals), or a lockdown's refusals. */
  untold: { late: number; lockdown: number };
  notices: number;
  deliveries: number;
}

/** How many passages one step reads at most: a backlog drains over several ticks. */
const READ_LIMIT = 5000;

/** Who the pupils are, for the ledger: where a pupil belonged at a passage, and their notice's words. */
export interface NoticePeople {
  /** The school a pupil belonged to at `at`: the gate's (`gateSchool`) but for a pupil who changed school. */
  schoolOf(personId: string, at: string, gateSchool: string): string;
  /** The pupil's name and class for the notice. */
  describe(burst: Burst): Omit<PassageNotice, 'id' | 'direction' | 'at' | 'device'> | undefined;
}

/**
 * The durable side of notices, per webhook (tables in schema.ts): a cursor over the gate passages (and
 * refusals), each pupil's burst, the settled notices and the deliveries they went out in. Every step is
 * one transaction, so a restart resumes where the last one ended: nothing read twice, nothing
 * confirmed sent again.
 */
export class NoticeLedger {
  private readonly s;
  private readonly stepInTransaction;
  private readonly queueOnceADay;

  constructor(db: SqlDatabase) {
    migrateModule(db, 'notices', NOTICES_STEPS);
    this.s = {
      webhook: db.prepare<[string], { cursor: number }>(
        'SELECT cursor FROM notice_webhooks WHERE webhook = ?',
      ),
      // After every gate row stored, refusals too (one event-id sequence; each max read off its key).
      addWebhook: db.prepare(
        `INSERT INTO notice_webhooks (webhook, cursor)
         VALUES (?, (SELECT coalesce(max(last), 0) FROM (
           SELECT max(event_id) AS last FROM gate_passages
           UNION ALL SELECT max(event_id) FROM gate_refusals) AS gate_rows))
         ON CONFLICT (webhook) DO NOTHING`,
      ),
      setCursor: db.prepare('UPDATE notice_webhooks SET cursor = ? WHERE webhook = ?'),
      passages: db.prepare<[number, number, number], GateRow>(
        `SELECT event_id, school, person_id, at, direction, NULL AS reason, device, role FROM gate_passages
         WHERE event_id > ? AND event_id <= ? ORDER BY event_id LIMIT ?`,
      ),
      // Event ids are one sequence over both tables: one cursor follows both.
      passagesAndRefusals: db.prepare<{ after: number; through: number; limit: number }, GateRow>(
        `SELECT event_id, school, person_id, at, direction, NULL AS reason, device, role FROM gate_passages
           WHERE event_id > @after AND event_id <= @through
         UNION ALL
         SELECT event_id, school, person_id, at, 'refused', reason, device, role FROM gate_refusals
           WHERE event_id > @after AND event_id <= @through
         ORDER BY event_id LIMIT @limit`,
      ),
      burst: db.prepare<[string, string], BurstRow>(
        'SELECT * FROM notice_bursts WHERE webhook = ? AND person_id = ?',
      ),
      putBurst: db.prepare(
        `INSERT INTO notice_bursts (webhook, person_id, school, first_at, last_at, direction, event_id, device, reason, open)
         VALUES (@webhook, @personId, @school, @firstAt, @lastAt, @direction, @eventId, @device, @reason, @open)
         ON CONFLICT (webhook, person_id) DO UPDATE SET school = excluded.school, first_at = excluded.first_at,
           last_at = excluded.last_at, direction = excluded.direction, event_id = excluded.event_id,
           device = excluded.device, reason = excluded.reason, open = excluded.open`,
      ),
      openBursts: db.prepare<[string, string], BurstRow>(
        'SELECT * FROM notice_bursts WHERE webhook = ? AND open = 1 AND last_at <= ? ORDER BY last_at',
      ),
      enqueue: db.prepare<[string, string, string], { id: number }>(
        'INSERT INTO notice_queue (webhook, notice, created_at) VALUES (?, ?, ?) RETURNING id',
      ),
      absence: db.prepare(
        `INSERT INTO notice_absences (webhook, date, person_id, school, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      absenceQueued: db.prepare(
        'UPDATE notice_absences SET queue_id = ? WHERE webhook = ? AND date = ? AND person_id = ?',
      ),
      absencesOn: db.prepare<[string, string], ToldRow>(
        `SELECT a.person_id, a.created_at, d.status, d.done_at FROM notice_absences a
           JOIN notice_queue q ON q.id = a.queue_id
           LEFT JOIN notice_deliveries d ON d.seq = q.delivery_seq
         WHERE a.school = ? AND a.date = ?`,
      ),
      overdue: db.prepare(
        `INSERT INTO notice_overdue (webhook, date, person_id, school, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      ),
      overdueQueued: db.prepare(
        'UPDATE notice_overdue SET queue_id = ? WHERE webhook = ? AND date = ? AND person_id = ?',
      ),
      overdueTold: db.prepare<[string, string], { person_id: string; date: string; at: string }>(
        `SELECT person_id, max(date) AS date, max(created_at) AS at FROM notice_overdue
         WHERE webhook = ? AND school = ? GROUP BY person_id`,
      ),
      overdueSent: db.prepare<[string], ToldRow & { date: string; queued: number | null }>(
        `SELECT o.person_id, o.date, o.created_at, q.id AS queued, d.status, d.done_at FROM notice_overdue o
           LEFT JOIN notice_queue q ON q.id = o.queue_id
           LEFT JOIN notice_deliveries d ON d.seq = q.delivery_seq
         WHERE o.school = ? ORDER BY o.person_id, o.created_at`,
      ),
      refusal: db.prepare(
        'INSERT INTO notice_refusals (queue_id, webhook, school, person_id, at, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      refusalsIn: db.prepare<[string, string, string], ToldRow & { at: string }>(
        `SELECT r.person_id, r.at, r.created_at, d.status, d.done_at FROM notice_refusals r
           JOIN notice_queue q ON q.id = r.queue_id
           LEFT JOIN notice_deliveries d ON d.seq = q.delivery_seq
         WHERE r.school = ? AND r.at >= ? AND r.at < ?
         ORDER BY r.person_id, r.at`,
      ),
      unsent: db.prepare<[string], { n: number; oldest: string | null }>(
        'SELECT count(*) AS n, min(created_at) AS oldest FROM notice_queue WHERE webhook = ? AND delivery_seq IS NULL',
      ),
      firstUnsent: db.prepare<[string, number], { id: number; notice: string }>(
        'SELECT id, notice FROM notice_queue WHERE webhook = ? AND delivery_seq IS NULL ORDER BY id LIMIT ?',
      ),
      addDelivery: db.prepare<[string, string, string, number, string, string], { seq: number }>(
        `INSERT INTO notice_deliveries (id, webhook, body, notices, created_at, status, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, 'pending', ?) RETURNING seq`,
      ),
      assign: db.prepare(
        'UPDATE notice_queue SET delivery_seq = ? WHERE webhook = ? AND id BETWEEN ? AND ? AND delivery_seq IS NULL',
      ),
      nextDelivery: db.prepare<[string], PendingDelivery>(
        `SELECT seq, id, body, notices, attempts, next_attempt_at AS nextAttemptAt FROM notice_deliveries
         WHERE webhook = ? AND status = 'pending' ORDER BY seq LIMIT 1`,
      ),
      delivered: db.prepare(
        "UPDATE notice_deliveries SET status = 'delivered', attempts = attempts + 1, done_at = ? WHERE seq = ?",
      ),
      retry: db.prepare(
        'UPDATE notice_deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE seq = ?',
      ),
      failed: db.prepare(
        "UPDATE notice_deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?, done_at = ? WHERE seq = ?",
      ),
      success: db.prepare('UPDATE notice_webhooks SET last_success_at = ? WHERE webhook = ?'),
      failedOf: db
        .prepare<[string], string>("SELECT webhook FROM notice_deliveries WHERE id = ? AND status = 'failed'")
        .pluck(),
      resend: db.prepare<[string, string]>(
        `UPDATE notice_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, done_at = NULL
         WHERE id = ? AND status = 'failed'`,
      ),
      error: db.prepare('UPDATE notice_webhooks SET last_error = ?, last_error_at = ? WHERE webhook = ?'),
      status: db.prepare<
        { key: string },
        {
          open: number;
          queued: number;
          pending: number | null;
          failed: number | null;
          delivered: number | null;
          next: string | null;
        }
      >(
        `SELECT (SELECT count(*) FROM notice_bursts WHERE webhook = @key AND open = 1) AS open,
                (SELECT count(*) FROM notice_queue WHERE webhook = @key AND delivery_seq IS NULL) AS queued,
                sum(CASE WHEN status = 'pending' THEN notices END) AS pending,
                sum(CASE WHEN status = 'failed' THEN notices END) AS failed,
                sum(CASE WHEN status = 'delivered' THEN notices END) AS delivered,
                min(CASE WHEN status = 'pending' THEN next_attempt_at END) AS next
         FROM notice_deliveries WHERE webhook = @key`,
      ),
      health: db.prepare<
        [string],
        { last_error: string | null; last_error_at: string | null; last_success_at: string | null }
      >('SELECT last_error, last_error_at, last_success_at FROM notice_webhooks WHERE webhook = ?'),
      failures: db.prepare<
        [string],
        { id: string; notices: number; attempts: number; last_error: string | null; done_at: string }
      >(
        `SELECT id, notices, attempts, last_error, done_at FROM notice_deliveries
         WHERE webhook = ? AND status = 'failed' ORDER BY seq DESC LIMIT 20`,
      ),
    };
    this.stepInTransaction = db.transaction(
      (hook: LedgerWebhook, now: number, people: NoticePeople, through: number, read: RowReader) =>
        this.step(hook, now, people, through, read),
    );
    // Each notice once a pupil and day: its row first (none if one is there), then its place in the queue.
    this.queueOnceADay = db.transaction(
      (key: string, notices: readonly (AbsenceNotice | OverdueNotice)[], now: number) => {
        const at = new Date(now).toISOString();
        let queued = 0;
        for (const notice of notices) {
          const [mark, link] =
            notice.kind === 'absent'
              ? [this.s.absence, this.s.absenceQueued]
              : [this.s.overdue, this.s.overdueQueued];
          if (mark.run(key, notice.date, notice.personId, notice.school, at).changes === 0) continue;
          const { id } = this.s.enqueue.get(key, JSON.stringify(notice), at) as { id: number };
          link.run(id, key, notice.date, notice.personId);
          queued++;
        }
        return queued;
      },
    );
  }

  /**
   * Queues absence notices for a webhook, each pupil's once a school day whatever the rounds and
   * restarts: the next step batches them with the passages' notices. How many were new.
   */
  queueAbsences(key: string, notices: AbsenceNotice[], now: number): number {
    return notices.length ? this.queueOnceADay(key, notices, now) : 0;
  }

  /** Queues reminders of overdue books for a webhook, each pupil's once a day at most. How many were new. */
  queueOverdue(key: string, notices: OverdueNotice[], now: number): number {
    return notices.length ? this.queueOnceADay(key, notices, now) : 0;
  }

  /** When a webhook last told each pupil of a school of their overdue books (kept 30 days). */
  overdueToldOn(key: string, school: string): Map<string, OverdueTold> {
    return new Map(
      this.s.overdueTold.all(key, school).map((row) => [row.person_id, { date: row.date, at: row.at }]),
    );
  }

  /**
   * What the parents of a school's pupils were told of their absence on a date, by pupil, over every
   * webhook: the furthest any of them got (delivered, else still on its way, else given up).
   */
  absenceNotices(school: string, date: string): Map<string, ParentNotice> {
    const told = new Map<string, ParentNotice>();
    for (const row of this.s.absencesOn.all(school, date)) {
      const notice = toldOf(row);
      if (further(notice, told.get(row.person_id))) told.set(row.person_id, notice);
    }
    return told;
  }

  /**
   * The reminders of overdue books the parents of a school's pupils were sent (the last 30 days), by
   * pupil, oldest first: each day's, the furthest any webhook got. A reminder whose queue row is gone
   * was delivered a week ago or more (one given up is kept as long as the reminder's own row).
   */
  overdueReminders(school: string): Map<string, ParentReminder[]> {
    const sent = new Map<string, ParentReminder[]>();
    for (const row of this.s.overdueSent.all(school)) {
      const told: ParentNotice =
        row.queued === null ? { state: 'delivered', at: row.created_at } : toldOf(row);
      const reminder = { date: row.date, at: row.created_at, state: told.state };
      const pupil = sent.get(row.person_id) ?? [];
      const same = pupil.findIndex((each) => each.date === row.date);
      if (same < 0) pupil.push(reminder);
      else if (further(told, pupil[same])) pupil[same] = reminder;
      sent.set(row.person_id, pupil);
    }
    return sent;
  }

  /**
   * What the parents of a school's pupils were told of refusals at the gate in a span (a school day),
   * by pupil, in the order of the refusals: for each refusal, the furthest any webhook got.
   */
  refusalNotices(school: string, span: DaySpan): Map<string, RefusalParentNotice[]> {
    const told = new Map<string, RefusalParentNotice[]>();
    for (const row of this.s.refusalsIn.all(school, span.from, span.to)) {
      const notice = { ...toldOf(row), refusedAt: row.at };
      const pupil = told.get(row.person_id) ?? [];
      const last = pupil.at(-1);
      if (last?.refusedAt !== row.at) pupil.push(notice);
      else if (further(notice, last)) pupil[pupil.length - 1] = notice;
      told.set(row.person_id, pupil);
    }
    return told;
  }

  /** Makes a webhook known; a new one starts after the gate rows already stored (no history replayed). */
  register(key: string): void {
    this.s.addWebhook.run(key);
  }

  /**
   * One step for one webhook, in one transaction (a savepoint of the round's, under the service):
   * reads new passages (and refusals) into bursts, settles the quiet ones into notices, and closes
   * batches into deliveries. A webhook of a school hears of the passages of the pupils who were that
   * school's at the time (`people.schoolOf`), at whatever gate. Rows are read up to the event id
   * `through` (the store's `settledEventId()`, taken once per round) through the round's `read`.
   */
  advance(
    hook: LedgerWebhook,
    now: number,
    people: NoticePeople,
    through: number,
    read: RowReader = this.roundReader(),
  ): StepResult {
    return this.stepInTransaction(hook, now, people, through, read);
  }

  /**
   * A reader of the gate rows after a cursor, for one round: the webhooks of a round mostly stand at
   * the same cursor, and read the rows once for all of them (a district's webhooks, one per school,
   * each skip the others' rows). Each round takes a new one: rows committed since, or renamed (a
   * leaver anonymised), are read afresh.
   */
  roundReader(): RowReader {
    let held: { after: number; through: number; refusals: boolean; rows: GateRow[] } | undefined;
    return (after, through, refusals) => {
      if (held && held.after === after && held.through === through && held.refusals === refusals)
        return held.rows;
      const rows = refusals
        ? this.s.passagesAndRefusals.all({ after, through, limit: READ_LIMIT })
        : this.s.passages.all(after, through, READ_LIMIT);
      held = { after, through, refusals, rows };
      return rows;
    };
  }

  private step(
    hook: LedgerWebhook,
    now: number,
    people: NoticePeople,
    through: number,
    read: RowReader,
  ): StepResult {
    const nowIso = new Date(now).toISOString();
    const untold = { late: 0, lockdown: 0 };
    const cursor = this.s.webhook.get(hook.key)?.cursor;
    if (cursor === undefined) {
      // Forgotten (`retireWebhooks`) by an instance configured without it: it starts again after the rows
      // stored, as a new webhook does, rather than from the first passage ever stored.
      this.register(hook.key);
      return { read: 0, stale: 0, untold, notices: 0, deliveries: 0 };
    }
    const rows = read(cursor, through, hook.refusals === true);
    let stale = 0;
    let notices = 0;
    const notify = (burst: Burst) => {
      const about = people.describe(burst);
      if (!about) return;
      const at = burst.lastAt;
      const notice: PassageNotice | RefusalNotice =
        burst.direction === 'refused'
          ? // A burst that ends with a refusal holds its reason (gate_refusals.reason is never null).
            {
              id: `r${burst.eventId}`,
              kind: 'refused',
              ...about,
              at,
              device: burst.device,
              reason: burst.reason as DenyReason,
            }
          : { id: `n${burst.eventId}`, ...about, direction: burst.direction, at, device: burst.device };
      const { id } = this.s.enqueue.get(hook.key, JSON.stringify(notice), nowIso) as { id: number };
      if ('kind' in notice) this.s.refusal.run(id, hook.key, notice.school, notice.personId, at, nowIso);
      notices++;
    };
    const save = (burst: Burst) =>
      this.s.putBurst.run({ webhook: hook.key, reason: null, ...burst, open: burst.open ? 1 : 0 });

    for (const row of rows) {
      if (row.role !== 'student') continue;
      const school = people.schoolOf(row.person_id, row.at, row.school);
      if (hook.school !== undefined && school !== hook.school) continue;
      const untoldWhy = untoldRow(row, now);
      if (untoldWhy) {
        untold[untoldWhy]++;
        continue;
      }
      const passage: Passage = {
        eventId: row.event_id,
        school,
        personId: row.person_id,
        at: row.at,
        direction: row.direction,
        device: row.device,
        ...(row.reason ? { reason: row.reason } : {}),
      };
      const held = this.s.burst.get(hook.key, passage.personId);
      const outcome = addPassage(held ? toBurst(held) : undefined, passage, hook.debounceMs);
      if (outcome.kind === 'stale') {
        stale++;
        continue;
      }
      if (outcome.kind === 'unchanged') continue;
      if (outcome.kind === 'settled') notify(outcome.settled);
      save(outcome.burst);
    }
    if (rows.length) this.s.setCursor.run((rows.at(-1) as { event_id: number }).event_id, hook.key);

    const quietSince = new Date(now - hook.debounceMs).toISOString();
    for (const row of this.s.openBursts.all(hook.key, quietSince)) {
      const burst = toBurst(row);
      if (!hasSettled(burst, now, hook.debounceMs)) continue;
      notify(burst);
      save({ ...burst, open: false });
    }

    let deliveries = 0;
    for (;;) {
      const unsent = this.s.unsent.get(hook.key) as { n: number; oldest: string | null };
      const due = unsent.oldest !== null && Date.parse(unsent.oldest) + hook.batchWindowMs <= now;
      if (unsent.n === 0 || (unsent.n < hook.batchMax && !due)) break;
      const batch = this.s.firstUnsent.all(hook.key, hook.batchMax);
      const id = randomUUID();
      const body = `{"deliveryId":${JSON.stringify(id)},"notices":[${batch.map((b) => b.notice).join(',')}]}`;
      const { seq } = this.s.addDelivery.get(id, hook.key, body, batch.length, nowIso, nowIso) as {
        seq: number;
      };
      this.s.assign.run(seq, hook.key, (batch[0] as { id: number }).id, (batch.at(-1) as { id: number }).id);
      deliveries++;
    }
    return { read: rows.length, stale, untold, notices, deliveries };
  }

  /** The oldest delivery not yet confirmed or given up: deliveries go out one at a time, in order. */
  nextDelivery(key: string): PendingDelivery | undefined {
    return this.s.nextDelivery.get(key);
  }

  delivered(key: string, seq: number, now: number): void {
    const at = new Date(now).toISOString();
    this.s.delivered.run(at, seq);
    this.s.success.run(at, key);
  }

  retryLater(key: string, seq: number, error: string, next: number, now: number): void {
    this.s.retry.run(new Date(next).toISOString(), error, seq);
    this.s.error.run(error, new Date(now).toISOString(), key);
  }

  givenUp(key: string, seq: number, error: string, now: number): void {
    const at = new Date(now).toISOString();
    this.s.failed.run(error, at, seq);
    this.s.error.run(error, at, key);
  }

  /** The webhook of a given-up delivery, or undefined when no delivery by that id was given up. */
  failedDelivery(id: string): string | undefined {
    return this.s.failedOf.get(id);
  }

  /**
   * Puts a given-up delivery back, due now, its attempts counted from zero. It keeps its id and body,
   * so a receiver that did take it after all dedupes it; being older, it goes out before newer ones.
   */
  resend(id: string, now: number): boolean {
    return this.s.resend.run(new Date(now).toISOString(), id).changes > 0;
  }

  status(key: string) {
    const counts = this.s.status.get({ key });
    const health = this.s.health.get(key);
    return {
      /** Notices not yet confirmed: bursts still settling, notices waiting for a batch, deliveries under way. */
      pending: (counts?.open ?? 0) + (counts?.queued ?? 0) + (counts?.pending ?? 0),
      failed: counts?.failed ?? 0,
      delivered: counts?.delivered ?? 0,
      ...(counts?.next ? { nextAttemptAt: counts.next } : {}),
      ...(health?.last_error ? { lastError: health.last_error, lastErrorAt: health.last_error_at } : {}),
      ...(health?.last_success_at ? { lastSuccessAt: health.last_success_at } : {}),
      failedDeliveries: this.s.failures.all(key).map((row) => ({
        id: row.id,
        notices: row.notices,
        attempts: row.attempts,
        lastError: row.last_error,
        at: row.done_at,
      })),
    };
  }
}

/**
 * Why a gate row is not told: a lockdown refuses every arriving pupil, and what their parents are told
 * is the school's to decide (an absence notice still says it at the cut-off); a row read long after it
 * happened is news nobody can act on.
 */
function untoldRow(row: GateRow, now: number): 'lockdown' | 'late' | undefined {
  if (row.direction === 'refused' && row.reason === 'lockdown') return 'lockdown';
  const lateAfter = row.direction === 'refused' ? REFUSAL_LATE_MS : PASSAGE_LATE_MS;
  return now - Date.parse(row.at) > lateAfter ? 'late' : undefined;
}
