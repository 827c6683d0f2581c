import { type SqlDatabase, tableExists } from '../store/index.js';
import type { Notice } from './notice.js';

/** A delivery's body as POSTed. */
interface DeliveryBody {
  deliveryId: string;
  notices: Notice[];
}

/** A notice about one person as the ledger holds it, and how far it went. */
export interface HeldNotice {
  /** The webhook's key (`GET /v1/notices/status`), not its address. */
  webhook: string;
  queuedAt: string;
  /** `queued`: waiting for a batch; then its delivery's status. */
  status: 'queued' | 'pending' | 'delivered' | 'failed';
  /** When its delivery was confirmed or given up. */
  doneAt?: string;
  notice: Notice;
}

/**
 * The notice queue's rows about one person, with their deliveries. The notices are JSON the bridge
 * wrote: a text match finds the candidates, the parse decides.
 */
function queuedAbout(db: SqlDatabase, personId: string) {
  const named = `%${JSON.stringify({ personId }).slice(1, -1)}%`;
  return db
    .prepare<
      [string],
      {
        id: number;
        webhook: string;
        notice: string;
        created_at: string;
        delivery_seq: number | null;
        status: HeldNotice['status'] | null;
        done_at: string | null;
      }
    >(
      `SELECT q.id, q.webhook, q.notice, q.created_at, q.delivery_seq, d.status, d.done_at
         FROM notice_queue q LEFT JOIN notice_deliveries d ON d.seq = q.delivery_seq
       WHERE q.notice LIKE ? ORDER BY q.id`,
    )
    .all(named)
    .map((row) => ({ ...row, parsed: JSON.parse(row.notice) as Notice }))
    .filter((row) => row.parsed.personId === personId);
}

/**
 * The parent notices held about a pupil, for their subject-access export: each notice in the queue
 * (every one a delivery carries is there until both are pruned). None on a bridge without notices.
 */
export function noticesAbout(db: SqlDatabase, personId: string): HeldNotice[] {
  if (!tableExists(db, 'notice_queue')) return [];
  return queuedAbout(db, personId).map((row) => ({
    webhook: row.webhook,
    queuedAt: row.created_at,
    status: row.status ?? 'queued',
    ...(row.done_at ? { doneAt: row.done_at } : {}),
    notice: row.parsed,
  }));
}

/**
 * Drops a leaver's notices from every webhook's ledger, when they are anonymised (docs/privacy.md):
 * their burst, their absence, refusal and overdue-book rows, their notices in the queue, and their
 * notices inside the deliveries kept (a given-up batch the office may send again goes without them; one
 * left empty goes). A bridge that never had notices has none of these tables. How many rows changed.
 */
export function forgetNoticesOf(db: SqlDatabase, personId: string): number {
  if (!tableExists(db, 'notice_bursts')) return 0;
  let changed = db.prepare('DELETE FROM notice_bursts WHERE person_id = ?').run(personId).changes;
  changed += db.prepare('DELETE FROM notice_absences WHERE person_id = ?').run(personId).changes;
  for (const table of ['notice_refusals', 'notice_overdue'])
    if (tableExists(db, table))
      changed += db.prepare(`DELETE FROM ${table} WHERE person_id = ?`).run(personId).changes;
  const queued = queuedAbout(db, personId);
  const dropQueued = db.prepare('DELETE FROM notice_queue WHERE id = ?');
  for (const row of queued) changed += dropQueued.run(row.id).changes;
  const rewrite = db.prepare('UPDATE notice_deliveries SET body = ?, notices = ? WHERE seq = ?');
  const drop = db.prepare('DELETE FROM notice_deliveries WHERE seq = ?');
  const read = db.prepare<[number], string>('SELECT body FROM notice_deliveries WHERE seq = ?').pluck();
  for (const seq of new Set(queued.flatMap((row) => (row.delivery_seq === null ? [] : [row.delivery_seq])))) {
    const stored = read.get(seq);
    if (stored === undefined) continue;
    const body = JSON.parse(stored) as DeliveryBody;
    const kept = body.notices.filter((notice) => notice.personId !== personId);
    changed += (
      kept.length === 0
        ? drop.run(seq)
        : rewrite.run(JSON.stringify({ ...body, notices: kept }), kept.length, seq)
    ).changes;
  }
  return changed;
}
