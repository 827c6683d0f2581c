import type { Logger } from 'pino';
import type { AuditSink } from '../access/index.js';
import { LIBRARY_EVENT_TYPES } from '../library/index.js';
import { commitUnhurried, inPacedBatches, type Pace, type SqlDatabase, tableExists } from '../store/index.js';
import { DEFAULT_RETENTION_DAYS, type RetentionConfig } from './config.js';
import { retentionCutoff } from './rules.js';

const DAY_MS = 86_400_000;

/**
 * The lease the purge runs under when instances share a store (the runtime's singleton duty): one
 * purger at a time, with its own config's rules. A backup's live purge takes it too.
 */
export const RETENTION_LEASE = 'retention';

/** Events removed by one statement: a statement per event was most of a batch's own time. */
const DELETE_CHUNK = 100;

/** How the central system acknowledges events, by the connector's mode (docs/central.md). */
export type CentralAcks = 'off' | 'api' | 'file';

export interface RetentionDeps {
  db: SqlDatabase;
  config: RetentionConfig;
  central: CentralAcks;
  audit: AuditSink;
  logger: Logger;
  now: () => Date;
  /** Run after each purge: anonymises the leavers whose time has come; how many. */
  anonymise?: () => Promise<number>;
  /**
   * Run after the events' purge: forgets the class visits booked at each venue for a date before the
   * cutoff given (its `venue.visit` events' retention), with their pupils' cards; by venue.
   */
  forgetBookings?: (cutoffOf: (venue: string) => string | undefined) => ForgottenBookings[];
  /**
   * Run after the events' purge: forgets the loans returned before each school's cutoff given (its
   * library events' retention), with their items' history in the ledger; by school.
   */
  forgetLoans?: (
    cutoffOf: (school: string) => string | undefined,
    signal: AbortSignal,
  ) => Promise<ForgottenInSchool[]>;
  /** Run after the events' purge: thins the roster and catalogue versions no device can fetch any more; how many. */
  thinVersions?: (now: Date) => number;
  /** Run after the events' purge: removes the alarms cleared before the instant given (`alarmDays`); how many. */
  forgetAlarms?: (before: Date) => number;
  /** Run after the events' purge: removes the enrollment tokens used or expired before the instant given; how many. */
  forgetTokens?: (now: Date) => number;
  /** Run last: removes the audit entries older than the instant given (`auditDays`), paced as the events' purge; how many. */
  purgeAudit?: (before: Date, pace: Pace, signal: AbortSignal) => Promise<number>;
  /** Told each run's report once it is done (the metrics). */
  onRun?: (report: PurgeReport) => void;
}

/** What a step forgot in one school (loans returned, with the events they were made of): how many, up to when. */
export interface ForgottenInSchool {
  school: string;
  count: number;
  upTo: string;
}

/** Class visits a venue had booked, forgotten with its visit events. */
export interface ForgottenBookings {
  venue: string;
  count: number;
  upTo: string;
}

/** What one purge removed, per school and type, and up to which instant. */
export interface PurgedEvents {
  school: string;
  type: string;
  count: number;
  upTo: string;
}

export interface PurgeReport {
  at: string;
  purged: PurgedEvents[];
  /** Events past their retention kept because the central system has not acknowledged them. */
  heldUnacknowledged: number;
  /** Events past their retention kept for a loan of their item open (or closed within the rule) since. */
  heldOpenLoans: number;
  /** Class visits booked at venues for dates past their retention, forgotten with their pupils' cards. */
  bookingsForgotten: number;
  /** Loans returned before their school's library retention, forgotten from the ledger. */
  loansForgotten: number;
  /** Roster and catalogue versions thinned to their manifests. */
  versionsThinned: number;
  /** Alarms cleared more than `alarmDays` ago, removed. */
  alarmsForgotten: number;
  /** Enrollment tokens used or expired, removed. */
  tokensForgotten: number;
  /** Leavers anonymised in this run. */
  anonymised: number;
  /** Events removed in all, over every school and type of `purged`. */
  removed: number;
  /** Audit entries removed past `auditDays`. */
  auditPurged: number;
  durationMs: number;
}

interface ScannedRow {
  id: number;
  type: string;
  at: string;
  item: string | null;
  pending: 0 | 1;
}

/** Every rule key that could apply to a school, so the scan can stop at the latest cutoff of them all. */
function ruleKeys(config: RetentionConfig, school: string): string[] {
  return [
    ...Object.keys(DEFAULT_RETENTION_DAYS),
    ...Object.keys(config.days),
    ...Object.keys(config.schools[school] ?? {}),
  ].map((key) => key.replace(/\.\*$/, '.x').replace(/^\*$/, 'x'));
}

/**
 * Removes stored events past their school's retention rule for their type, in small batches: each
 * batch is one short transaction, and after it the purge waits long enough that it takes no more than
 * `purgeShare` of the bridge's time and removes no more than `purgeRate` events a second, so ingest
 * goes on at (nearly) its full rate. It never removes an
 * event the central system has not acknowledged (still in the outbox or a dead letter in api mode,
 * not yet exported in file mode), nor a library event made since the checkout of a loan of its item
 * that is open or was returned within the rule (a return closes every loan then open, so what came
 * before that checkout is of loans long closed). Gate passages (attendance's register) are not events
 * and are not touched; the loan ledger forgets its loans through `forgetLoans`. Each run that removed
 * something is in the audit log, per school and type.
 */
export class Retention {
  private readonly sql;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<PurgeReport> | undefined;
  /** Aborted by `stop`: ends a run between batches and cuts its pacing wait short. */
  private halt = new AbortController();
  private last: PurgeReport | undefined;
  private readonly pace: Pace;

  constructor(private readonly deps: RetentionDeps) {
    const { db, central } = deps;
    this.pace = { share: deps.config.purgeShare, perSecond: deps.config.purgeRate };
    // A number on both backends: PostgreSQL's EXISTS and comparisons are booleans, SQLite's integers.
    const pending =
      central === 'api' && tableExists(db, 'central_outbox')
        ? `CASE WHEN EXISTS (SELECT 1 FROM central_outbox o WHERE o.event_id = e.id)
                  OR EXISTS (SELECT 1 FROM central_dead_letters d WHERE d.event_id = e.id) THEN 1 ELSE 0 END`
        : central === 'file'
          ? `CASE WHEN e.id > coalesce((SELECT CAST(value AS BIGINT) FROM central_state WHERE key = 'files.exportedThrough'), 0)
             THEN 1 ELSE 0 END`
          : '0';
    const itemOf =
      db.dialect === 'postgres'
        ? "e.record::jsonb #>> '{data,itemId}'"
        : "json_extract(e.record, '$.data.itemId')";
    const loans = tableExists(db, 'loans');
    this.sql = {
      // One index probe per school: DISTINCT read every entry of events_school_at, 80 ms per
      // million events with the event loop held.
      schools: db.prepare<[], { school: string }>(
        `WITH RECURSIVE s(school) AS (
           SELECT min(school) FROM events
           UNION ALL SELECT (SELECT min(school) FROM events WHERE school > s.school) FROM s WHERE s.school IS NOT NULL
         )
         SELECT school FROM s WHERE school IS NOT NULL`,
      ),
      scan: db.prepare<[string, string, string, number, number], ScannedRow>(
        `SELECT e.id, e.type, e.at,
                CASE WHEN e.type LIKE 'library.%' THEN ${itemOf} END AS item,
                ${pending} AS pending
         FROM events e
         WHERE e.school = ? AND e.at < ? AND (e.at, e.id) > (?, ?)
         ORDER BY e.at, e.id LIMIT ?`,
      ),
      openLoan: loans
        ? db.prepare<[string, string, string, string], { one: number }>(
            `SELECT 1 AS one FROM loans WHERE school = ? AND item_id = ?
               AND (returned_at IS NULL OR returned_at >= ?) AND checked_out_at <= ? LIMIT 1`,
          )
        : undefined,
      remove: db.prepare(`DELETE FROM events WHERE id IN (${Array(DELETE_CHUNK).fill('?').join(', ')})`),
    };
  }

  /**
   * Runs every `intervalMs`, the first an interval after the start: a bridge starting up (or a restart
   * loop) gives ingest and the API the machine first. A run never overlaps the one before.
   */
  start(): void {
    if (this.halt.signal.aborted) this.halt = new AbortController();
    this.schedule(this.deps.config.intervalMs);
  }

  async stop(): Promise<void> {
    this.halt.abort();
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  private get stopped(): boolean {
    return this.halt.signal.aborted;
  }

  get lastRun(): PurgeReport | undefined {
    return this.last;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runOnce()
        .catch((error: unknown) => this.deps.logger.error({ err: error }, 'retention purge failed'))
        .finally(() => this.schedule(this.deps.config.intervalMs));
    }, delay);
    this.timer.unref();
  }

  /** One purge of every school; a second call while one runs gets the same run. */
  runOnce(): Promise<PurgeReport> {
    this.running ??= this.purgeAll().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async purgeAll(): Promise<PurgeReport> {
    const { logger, audit, now } = this.deps;
    const started = performance.now();
    const at = now();
    const report: PurgeReport = {
      at: at.toISOString(),
      purged: [],
      heldUnacknowledged: 0,
      heldOpenLoans: 0,
      bookingsForgotten: 0,
      loansForgotten: 0,
      versionsThinned: 0,
      alarmsForgotten: 0,
      tokensForgotten: 0,
      anonymised: 0,
      removed: 0,
      auditPurged: 0,
      durationMs: 0,
    };
    for (const { school } of this.sql.schools.all()) {
      if (this.stopped) break;
      await this.purgeSchool(school, at, report);
    }
    // Audited before the steps after it, which may fail (a roster publish): what was removed is said.
    for (const purged of report.purged) {
      audit.record({
        actor: 'bridge',
        action: 'retention.purge',
        target: purged.type,
        school: purged.school,
        outcome: 'ok',
        detail: { events: purged.count, upTo: purged.upTo },
      });
    }
    report.removed = report.purged.reduce((sum, p) => sum + p.count, 0);
    if (!this.stopped) report.bookingsForgotten = this.forgetBookings(at);
    if (!this.stopped) report.loansForgotten = await this.forgetLoans(at);
    if (!this.stopped) report.versionsThinned = this.deps.thinVersions?.(at) ?? 0;
    const { auditDays, alarmDays } = this.deps.config;
    if (!this.stopped && alarmDays !== null)
      report.alarmsForgotten = this.deps.forgetAlarms?.(new Date(at.getTime() - alarmDays * DAY_MS)) ?? 0;
    if (!this.stopped) report.tokensForgotten = this.deps.forgetTokens?.(at) ?? 0;
    if (!this.stopped) report.anonymised = (await this.deps.anonymise?.()) ?? 0;
    if (!this.stopped && auditDays !== null)
      report.auditPurged =
        (await this.deps.purgeAudit?.(
          new Date(at.getTime() - auditDays * DAY_MS),
          this.pace,
          this.halt.signal,
        )) ?? 0;
    report.durationMs = Math.round(performance.now() - started);
    const { removed, bookingsForgotten, loansForgotten, versionsThinned, alarmsForgotten, tokensForgotten } =
      report;
    const forgotten =
      bookingsForgotten + loansForgotten + versionsThinned + alarmsForgotten + tokensForgotten;
    if (removed > 0 || report.heldUnacknowledged > 0 || forgotten > 0)
      logger.info(
        {
          removed,
          bookingsForgotten,
          loansForgotten,
          versionsThinned,
          alarmsForgotten,
          tokensForgotten,
          heldUnacknowledged: report.heldUnacknowledged,
          heldOpenLoans: report.heldOpenLoans,
          durationMs: report.durationMs,
        },
        'retention purge done',
      );
    this.last = report;
    this.deps.onRun?.(report);
    return report;
  }

  private forgetBookings(at: Date): number {
    const forgotten =
      this.deps.forgetBookings?.((venue) => retentionCutoff(this.deps.config, venue, 'venue.visit', at)) ??
      [];
    return this.audited(
      'venue.booking',
      'bookings',
      forgotten.map(({ venue, ...rest }) => ({ school: venue, ...rest })),
    );
  }

  /**
   * Forgets the ledger's loans past each school's library retention: the earliest cutoff of its
   * library types (none when one of them is kept for ever). Audited per school.
   */
  private async forgetLoans(at: Date): Promise<number> {
    const cutoffOf = (school: string) => {
      const cutoffs = LIBRARY_EVENT_TYPES.map((type) => retentionCutoff(this.deps.config, school, type, at));
      return cutoffs.includes(undefined) ? undefined : (cutoffs as string[]).sort()[0];
    };
    return this.audited(
      'library.loan',
      'loans',
      (await this.deps.forgetLoans?.(cutoffOf, this.halt.signal)) ?? [],
    );
  }

  /**
   * What a step forgot beside events, in the audit log as the events' purge is: an entry per school
   * (or venue), target the kind, detail how many (under `what`) and up to which instant. How many in all.
   */
  private audited(target: string, what: string, forgotten: ForgottenInSchool[]): number {
    for (const { school, count, upTo } of forgotten)
      this.deps.audit.record({
        actor: 'bridge',
        action: 'retention.purge',
        target,
        school,
        outcome: 'ok',
        detail: { [what]: count, upTo },
      });
    return forgotten.reduce((sum, f) => sum + f.count, 0);
  }

  private remove(ids: number[]): void {
    for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
      const chunk = ids.slice(i, i + DELETE_CHUNK);
      // A short last chunk repeats its last id: one statement for every chunk.
      const last = chunk[chunk.length - 1] as number;
      while (chunk.length < DELETE_CHUNK) chunk.push(last);
      this.sql.remove.run(...chunk);
    }
  }

  private async purgeSchool(school: string, now: Date, report: PurgeReport): Promise<void> {
    const { config } = this.deps;
    const cutoffs = new Map<string, string | undefined>();
    const cutoffOf = (type: string) => {
      if (!cutoffs.has(type)) cutoffs.set(type, retentionCutoff(config, school, type, now));
      return cutoffs.get(type);
    };
    // No event at or after the latest cutoff of any rule can be past its retention.
    const latest = ruleKeys(config, school)
      .map(cutoffOf)
      .filter((cutoff): cutoff is string => cutoff !== undefined)
      .sort()
      .at(-1);
    if (!latest) return;
    const counts = new Map<string, PurgedEvents>();
    let after = { at: '', id: 0 };
    // Without waiting for the disk: a batch lost to a power cut is purged again at the next run.
    const batch = () =>
      commitUnhurried(this.deps.db, () => {
        const rows = this.sql.scan.all(school, latest, after.at, after.id, config.batchSize);
        const doomed: number[] = [];
        for (const row of rows) {
          const cutoff = cutoffOf(row.type);
          if (cutoff === undefined || row.at >= cutoff) continue;
          if (row.pending) {
            report.heldUnacknowledged += 1;
            continue;
          }
          if (row.item !== null && this.sql.openLoan?.get(school, row.item, cutoff, row.at)) {
            report.heldOpenLoans += 1;
            continue;
          }
          doomed.push(row.id);
          const entry = counts.get(row.type) ?? { school, type: row.type, count: 0, upTo: cutoff };
          entry.count += 1;
          counts.set(row.type, entry);
        }
        this.remove(doomed);
        const last = rows.at(-1);
        if (last) after = { at: last.at, id: last.id };
        return { done: rows.length < config.batchSize, items: doomed.length };
      });
    await inPacedBatches(this.pace, batch, this.halt.signal);
    report.purged.push(...counts.values());
  }
}
