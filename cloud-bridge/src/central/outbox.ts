import { createHash } from 'node:crypto';
import { backoffDelay, type EventRecord } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import { type BridgeStore, type CommittedEvent, logFailure } from '../store/index.js';
import { type CentralClient, CentralUnavailable } from './client.js';
import { EventBatchAnswer, type GrowthVisit, type PushedEvent } from './contract.js';
import type { CentralState } from './tables.js';
import type { PushStatus } from './types.js';

/** What the operations module records: the connector raises it, a person acts on it. */
export interface CentralAlarm {
  kind: 'central.dead-letter' | 'central.unreachable';
  message: string;
  count: number;
}

export interface PushSettings {
  intervalMs: number;
  batchSize: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  maxAttempts: number;
  /** Unreachable for longer than this raises the `central.unreachable` alarm (once per outage). */
  unreachableAlarmMs: number;
}

export interface OutboxDeps {
  store: BridgeStore;
  state: CentralState;
  client: CentralClient;
  settings: PushSettings;
  logger: Logger;
  onAlarm?: (alarm: CentralAlarm) => void;
  /** What an event adds to a pupil's growth record, when its type adds to one (a venue visit). */
  growthRecord?: (event: PushedEvent) => GrowthVisit | undefined;
}

export interface DeadLetter {
  id: number;
  device: string;
  seq: number;
  school: string;
  at: string;
  attempts: number;
  reason: string;
  deadAt: string;
}

const EVERY_SCHOOL = { school: null };

interface OutboxRow {
  event_id: number;
  device: string;
  epoch: number;
  seq: number;
  school: string;
  at: string;
  attempts: number;
  record: string;
}

interface Batch {
  key: string;
  rows: OutboxRow[];
  events: PushedEvent[];
}

/** An event's key: `device:seq` in a device's first epoch, `device:epoch:seq` in a later one. */
const eventKey = ({ device, epoch = 1, seq }: { device: string; epoch?: number; seq: number }) =>
  epoch === 1 ? `${device}:${seq}` : `${device}:${epoch}:${seq}`;

/** The same events make the same key, so a batch sent again after a lost answer is known as the same batch. */
export function batchKey(events: { device: string; epoch?: number; seq: number }[]): string {
  const hash = createHash('sha256');
  for (const event of events) hash.update(`${eventKey(event)}\n`);
  return hash.digest('hex');
}

/** Whether a device's event comes before another of the same device: epochs first, then seq. */
const before = (a: { epoch?: number; seq: number }, b: { epoch?: number; seq: number }) =>
  (a.epoch ?? 1) < (b.epoch ?? 1) || ((a.epoch ?? 1) === (b.epoch ?? 1) && a.seq < b.seq);

function pushedEvent(row: OutboxRow): PushedEvent {
  const record = JSON.parse(row.record) as EventRecord;
  const personId = record.data.personId;
  return {
    school: row.school,
    device: row.device,
    epoch: row.epoch,
    seq: row.seq,
    at: record.at,
    type: record.type,
    ...(typeof personId === 'string' ? { personId } : {}),
    data: record.data,
    hash: record.hash,
  };
}

/**
 * Every committed event goes into `central_outbox` in the transaction that stores it; the pusher sends
 * them to the central system oldest first, a device's events in order, and removes them only when the
 * central system has answered for them. Whole-batch failures back off and retry without limit; an
 * event the central system refuses holds its device back until it goes through or, after
 * `maxAttempts`, moves to the dead letters.
 */
export class Outbox {
  private readonly sql;
  private stopped = true;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private inBackoff = false;
  private abort = new AbortController();
  /** The batch whose answer is not known yet: sent again as it is, under the same key. */
  private unanswered: Batch | undefined;
  private failures = 0;
  private unreachableSince: number | undefined;
  private unreachableAlarmed = false;
  private nextAttemptAt: number | undefined;

  constructor(private readonly deps: OutboxDeps) {
    const db = deps.store.database;
    this.sql = {
      enqueue: db.prepare(
        'INSERT INTO central_outbox (event_id, device, seq, school, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      backfill: db.prepare(
        'INSERT INTO central_outbox (event_id, device, seq, school, at) SELECT id, device, seq, school, at FROM events WHERE id > ? ORDER BY id ON CONFLICT DO NOTHING',
      ),
      lastEventId: db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM events'),
      // A device held back by a refused event sends only that event until it goes through.
      batch: db.prepare<[number], OutboxRow>(
        `SELECT o.event_id, o.device, e.epoch, o.seq, o.school, o.at, o.attempts, e.record
         FROM central_outbox o JOIN events e ON e.id = o.event_id
         WHERE o.device NOT IN (SELECT device FROM central_outbox WHERE attempts > 0)
            OR o.event_id IN (SELECT min(event_id) FROM central_outbox
                              WHERE device IN (SELECT device FROM central_outbox WHERE attempts > 0)
                              GROUP BY device)
         ORDER BY o.event_id LIMIT ?`,
      ),
      remove: db.prepare('DELETE FROM central_outbox WHERE event_id = ?'),
      attempt: db.prepare(
        'UPDATE central_outbox SET attempts = attempts + 1, last_error = ? WHERE event_id = ? RETURNING attempts',
      ),
      bury: db.prepare(
        `INSERT INTO central_dead_letters (event_id, device, seq, school, at, attempts, reason, dead_at)
         SELECT event_id, device, seq, school, at, attempts, last_error, ? FROM central_outbox WHERE event_id = ?
         ON CONFLICT (event_id) DO UPDATE SET device = excluded.device, seq = excluded.seq, school = excluded.school,
           at = excluded.at, attempts = excluded.attempts, reason = excluded.reason, dead_at = excluded.dead_at`,
      ),
      // `school` null means every school.
      pending: db.prepare<[{ school: string | null }], { n: number; oldest: string | null }>(
        'SELECT count(*) AS n, min(at) AS oldest FROM central_outbox WHERE CAST(@school AS TEXT) IS NULL OR school = @school',
      ),
      perDevice: db.prepare<[{ school: string | null }], { device: string; n: number; oldest: string }>(
        `SELECT device, count(*) AS n, min(at) AS oldest FROM central_outbox
         WHERE CAST(@school AS TEXT) IS NULL OR school = @school GROUP BY device ORDER BY device`,
      ),
      deadCount: db.prepare<[{ school: string | null }], { n: number }>(
        'SELECT count(*) AS n FROM central_dead_letters WHERE CAST(@school AS TEXT) IS NULL OR school = @school',
      ),
      deadLetters: db.prepare<[{ school: string | null; limit: number }], Record<string, string | number>>(
        'SELECT * FROM central_dead_letters WHERE CAST(@school AS TEXT) IS NULL OR school = @school ORDER BY event_id LIMIT @limit',
      ),
      revive: db.prepare(
        'INSERT INTO central_outbox (event_id, device, seq, school, at) SELECT event_id, device, seq, school, at FROM central_dead_letters WHERE event_id = ? ON CONFLICT DO NOTHING',
      ),
      forget: db.prepare('DELETE FROM central_dead_letters WHERE event_id = ?'),
    };
  }

  /**
   * Registers the commit projection. Events stored before it (a bridge that ran without the central
   * connector, or from before this version) are enqueued first, in the same synchronous step, so
   * none falls between the two.
   */
  attach(): void {
    const { store, state } = this.deps;
    store.database.transaction(() => {
      const from = Number(state.get('outbox.highWater') ?? 0);
      this.sql.backfill.run(from);
      state.set('outbox.highWater', this.sql.lastEventId.get()?.id ?? from);
    })();
    store.addCommitProjection((events) => this.enqueue(events), { everyRecord: true });
  }

  private enqueue(events: CommittedEvent[]): void {
    for (const event of events)
      this.sql.enqueue.run(event.eventId, event.device, event.record.seq, event.school, event.at);
    this.wake();
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.interruptSleep();
    await this.loop;
    this.loop = undefined;
  }

  /** New events: push soon, unless the central system asked us to wait. */
  wake(): void {
    if (!this.inBackoff) this.interruptSleep();
  }

  private interruptSleep(): void {
    clearTimeout(this.sleepTimer);
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      let delay: number;
      try {
        delay = await this.pushOnce();
      } catch (error) {
        logFailure(this.deps.logger, { err: error }, 'central push failed unexpectedly');
        delay = this.deps.settings.intervalMs;
      }
      if (this.stopped) break;
      if (delay > 0) await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wakeUp = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    }).finally(() => {
      this.wakeUp = undefined;
    });
  }

  /** One batch: returns how long to wait before the next. */
  async pushOnce(): Promise<number> {
    const { settings, logger, client, state } = this.deps;
    const batch = this.unanswered ?? this.nextBatch();
    if (!batch) return settings.intervalMs;
    this.unanswered = batch;
    let answer: EventBatchAnswer;
    try {
      const raw = await client.post(
        '/v1/events/batches',
        { batchId: batch.key, events: batch.events },
        { 'idempotency-key': batch.key },
        this.abort.signal,
      );
      const parsed = EventBatchAnswer.safeParse(raw);
      if (!parsed.success) throw new CentralUnavailable('the answer to a batch is not the contract’s');
      answer = parsed.data;
    } catch (error) {
      // Cut short by stop(): not the central system's failure.
      if (this.abort.signal.aborted) return 0;
      return this.failed(error as Error, batch);
    }
    this.unanswered = undefined;
    this.failures = 0;
    this.inBackoff = false;
    this.nextAttemptAt = undefined;
    this.unreachableSince = undefined;
    this.unreachableAlarmed = false;
    const now = new Date().toISOString();
    state.set('push.lastSuccessAt', now);
    const { delivered, buried } = this.settle(batch, answer, now);
    logger.debug(
      { events: batch.events.length, delivered, rejected: answer.rejected.length },
      'event batch pushed',
    );
    if (buried) this.raiseDeadLetters(buried);
    return batch.rows.length >= settings.batchSize || delivered > 0 ? 0 : settings.intervalMs;
  }

  private nextBatch(): Batch | undefined {
    const rows = this.sql.batch.all(this.deps.settings.batchSize);
    if (rows.length === 0) return undefined;
    const events = rows.map((row) => {
      const event = pushedEvent(row);
      const growthRecord = this.deps.growthRecord?.(event);
      return growthRecord ? { ...event, growthRecord } : event;
    });
    return { key: batchKey(rows), rows, events };
  }

  private failed(error: Error, batch: Batch): number {
    const { settings, logger, state } = this.deps;
    this.failures += 1;
    const now = Date.now();
    this.unreachableSince ??= now;
    const retryAfter = error instanceof CentralUnavailable ? (error.retryAfterMs ?? 0) : 0;
    const delay = Math.max(
      Math.min(retryAfter, settings.backoffMaxMs),
      backoffDelay(this.failures - 1, settings.backoffBaseMs, settings.backoffMaxMs),
    );
    this.inBackoff = true;
    this.nextAttemptAt = now + delay;
    state.set('push.lastError', error.message);
    logger.warn(
      { reason: error.message, failures: this.failures, retryInMs: delay, events: batch.events.length },
      'central system did not take the event batch: retrying',
    );
    if (!this.unreachableAlarmed && now - this.unreachableSince >= settings.unreachableAlarmMs) {
      this.unreachableAlarmed = true;
      const pending = this.sql.pending.get(EVERY_SCHOOL)?.n ?? 0;
      this.alarm({
        kind: 'central.unreachable',
        message: `the central system has not taken events for ${Math.round((now - this.unreachableSince) / 1000)} s: ${error.message}`,
        count: pending,
      });
    }
    return delay;
  }

  /**
   * Removes what the central system took, counts an attempt against the first refused event of each
   * device (its later ones in the batch stay pending, unattempted), and buries what ran out of attempts.
   */
  private settle(batch: Batch, answer: EventBatchAnswer, now: string): { delivered: number; buried: number } {
    const { store, state, settings, logger } = this.deps;
    const firstRefused = new Map<string, { epoch?: number; seq: number; reason: string }>();
    for (const refused of answer.rejected) {
      const held = firstRefused.get(refused.device);
      if (!held || before(refused, held)) firstRefused.set(refused.device, refused);
    }
    return store.database.transaction(() => {
      let delivered = 0;
      let buried = 0;
      // The highest event that left the outbox: a backfill at the next start must not enqueue it again.
      // Kept here, not at each commit, where several instances would all write one row.
      let gone = 0;
      for (const row of batch.rows) {
        const refused = firstRefused.get(row.device);
        if (refused && before(refused, row)) continue;
        if (refused && eventKey(row) === eventKey({ ...refused, device: row.device })) {
          const attempts = (this.sql.attempt.get(refused.reason, row.event_id) as { attempts: number })
            .attempts;
          logger.warn(
            { device: row.device, seq: row.seq, attempts, reason: refused.reason },
            'central system refused an event',
          );
          if (attempts >= settings.maxAttempts) {
            this.sql.bury.run(now, row.event_id);
            this.sql.remove.run(row.event_id);
            gone = Math.max(gone, row.event_id);
            buried += 1;
          }
          continue;
        }
        this.sql.remove.run(row.event_id);
        gone = Math.max(gone, row.event_id);
        delivered += 1;
      }
      if (gone > state.number('outbox.highWater')) state.set('outbox.highWater', gone);
      state.set('push.delivered', state.number('push.delivered') + delivered);
      return { delivered, buried };
    })();
  }

  private raiseDeadLetters(buried: number): void {
    const count = this.sql.deadCount.get(EVERY_SCHOOL)?.n ?? 0;
    this.alarm({
      kind: 'central.dead-letter',
      message: `${buried} event(s) refused by the central system ${this.deps.settings.maxAttempts} times moved to the dead letters (${count} in all)`,
      count,
    });
  }

  private alarm(alarm: CentralAlarm): void {
    this.deps.logger.error({ alarm }, 'central alarm');
    try {
      this.deps.onAlarm?.(alarm);
    } catch (error) {
      this.deps.logger.error({ err: error }, 'the alarm callback failed');
    }
  }

  /**
   * With a school, the pending, dead-letter and lag figures are that school's; the last success, error,
   * next attempt and delivered count are the one connection's, which every school shares.
   */
  status(now = Date.now(), school?: string): PushStatus {
    const { state } = this.deps;
    const scope = { school: school ?? null };
    const pending = this.sql.pending.get(scope) ?? { n: 0, oldest: null };
    const lastSuccessAt = state.get('push.lastSuccessAt');
    const lastError = state.get('push.lastError');
    return {
      pending: pending.n,
      deadLetters: this.sql.deadCount.get(scope)?.n ?? 0,
      ...(pending.oldest ? { oldestPendingAt: pending.oldest } : {}),
      lagSeconds: pending.oldest ? Math.max(0, Math.round((now - Date.parse(pending.oldest)) / 1000)) : 0,
      ...(lastSuccessAt ? { lastSuccessAt } : {}),
      ...(lastError ? { lastError } : {}),
      ...(this.nextAttemptAt !== undefined && this.inBackoff
        ? { nextAttemptAt: new Date(this.nextAttemptAt).toISOString() }
        : {}),
      delivered: state.number('push.delivered'),
      devices: this.sql.perDevice
        .all(scope)
        .map((d) => ({ device: d.device, pending: d.n, oldestAt: d.oldest })),
    };
  }

  deadLetters(limit = 1000, school?: string): DeadLetter[] {
    return this.sql.deadLetters.all({ school: school ?? null, limit }).map((row) => ({
      id: Number(row.event_id),
      device: String(row.device),
      seq: Number(row.seq),
      school: String(row.school),
      at: String(row.at),
      attempts: Number(row.attempts),
      reason: String(row.reason),
      deadAt: String(row.dead_at),
    }));
  }

  /** Puts a dead letter back in the outbox with its attempts reset; false when there is none by that id. */
  retryDeadLetter(id: number): boolean {
    const moved = this.deps.store.database.transaction(() => {
      if (this.sql.revive.run(id).changes === 0) return false;
      this.sql.forget.run(id);
      return true;
    })();
    if (moved) {
      this.deps.logger.info({ event: id }, 'dead letter sent again');
      this.wake();
    }
    return moved;
  }
}
