import type { SqlDatabase } from '../store/index.js';

/** The tables holding a webhook's rows, its own row in notice_webhooks last. */
const WEBHOOK_TABLES = [
  'notice_bursts',
  'notice_queue',
  'notice_deliveries',
  'notice_absences',
  'notice_refusals',
  'notice_overdue',
  'notice_webhooks',
];

export interface RetiredWebhook {
  key: string;
  /** Its notices not confirmed by the receiver: queued, on their way or given up. */
  undelivered: number;
}

/**
 * Forgets the webhooks no longer configured, with every row of theirs: the notices about pupils they
 * still held would stay for ever, and the same webhook configured again would resume at its old
 * cursor and tell parents of every passage since. What each had not delivered, for the log.
 */
export function retireWebhooks(db: SqlDatabase, configured: readonly string[]): RetiredWebhook[] {
  const keep = new Set(configured);
  const gone = db
    .prepare<[], string>('SELECT webhook FROM notice_webhooks ORDER BY webhook')
    .pluck()
    .all()
    .filter((key) => !keep.has(key));
  if (gone.length === 0) return [];
  const undelivered = db
    .prepare<[string], number>(
      `SELECT count(*) FROM notice_queue q LEFT JOIN notice_deliveries d ON d.seq = q.delivery_seq
       WHERE q.webhook = ? AND (d.status IS NULL OR d.status <> 'delivered')`,
    )
    .pluck();
  const drops = WEBHOOK_TABLES.map((table) => db.prepare(`DELETE FROM ${table} WHERE webhook = ?`));
  return db.transaction(() =>
    gone.map((key) => {
      const retired = { key, undelivered: Number(undelivered.get(key) ?? 0) };
      for (const drop of drops) drop.run(key);
      return retired;
    }),
  )();
}

export interface GivenUpDropped {
  webhook: string;
  deliveries: number;
  notices: number;
}

/**
 * Drops what the notices keep no longer, over every webhook, in one transaction: deliveries confirmed
 * before `deliveredBefore` (kept for the status view's counts) with their notices, and the absence and
 * refusal rows the register reads; deliveries given up before `givenUpBefore` (kept for the office to
 * send again, not for ever: they name pupils); the days pupils were reminded of overdue books, before
 * `overdueBefore` (kept longer than the longest interval between reminders). The given-up ones
 * dropped, by webhook, for the log.
 */
export function pruneNotices(
  db: SqlDatabase,
  cutoffs: { deliveredBefore: number; givenUpBefore: number; overdueBefore: number },
): GivenUpDropped[] {
  const at = {
    delivered: new Date(cutoffs.deliveredBefore).toISOString(),
    givenUp: new Date(cutoffs.givenUpBefore).toISOString(),
  };
  const done = `(status = 'delivered' AND done_at < @delivered) OR (status = 'failed' AND done_at < @givenUp)`;
  return db.transaction(() => {
    const dropped = db
      .prepare<typeof at, { webhook: string; deliveries: number; notices: number }>(
        `SELECT webhook, count(*) AS deliveries, sum(notices) AS notices FROM notice_deliveries
         WHERE status = 'failed' AND done_at < @givenUp GROUP BY webhook ORDER BY webhook`,
      )
      .all(at)
      .map((row) => ({
        webhook: row.webhook,
        deliveries: Number(row.deliveries),
        notices: Number(row.notices),
      }));
    db.prepare(
      `DELETE FROM notice_queue WHERE delivery_seq IN (SELECT seq FROM notice_deliveries WHERE ${done})`,
    ).run(at);
    db.prepare(`DELETE FROM notice_deliveries WHERE ${done}`).run(at);
    for (const table of ['notice_absences', 'notice_refusals'])
      db.prepare(`DELETE FROM ${table} WHERE created_at < @delivered`).run(at);
    db.prepare('DELETE FROM notice_overdue WHERE created_at < ?').run(
      new Date(cutoffs.overdueBefore).toISOString(),
    );
    return dropped;
  })();
}
