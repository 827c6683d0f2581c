import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type Calendar, type EventRecord, localDate } from '@educard/terminal-sdk';
import { fsyncDirectory, writeFileDurable, writeFilesDurable } from '@educard/terminal-sdk/files';
import type { Logger } from 'pino';
import { type CsvCell, toCsv } from '../csv/index.js';
import type { Directory } from '../directory/index.js';
import { parseRosterCsv, type RosterService, type RowProblem } from '../roster/index.js';
import {
  type BadRowSink,
  type BridgeStore,
  logFailure,
  type StoredEvent,
  usableIds,
} from '../store/index.js';
import type { CentralState } from './tables.js';

export interface FileExchangeDeps {
  store: BridgeStore;
  directory: Directory;
  roster: RosterService;
  state: CentralState;
  logger: Logger;
  inboxDir: string;
  outboxDir: string;
  importIntervalMs: number;
  exportIntervalMs: number;
  exportAttendance?: (school: string, date: string) => Promise<string> | string;
  /** Told of a school id that cannot name a file: that school's attendance is not exported. */
  onBadRow: BadRowSink;
}

export interface ImportFileReport {
  file: string;
  ok: boolean;
  at: string;
  school?: string;
  version?: number;
  added?: number;
  updated?: number;
  revoked?: number;
  unchanged?: number;
  problems: RowProblem[];
}

export interface FileStatus {
  inboxDir: string;
  outboxDir: string;
  exportedThrough: number;
  lastImport?: ImportFileReport;
  lastExportAt?: string;
  lastError?: string;
}

const EXPORT_CHUNK = 5000;
const CSV_HEADER = [
  'id',
  'school',
  'device',
  'epoch',
  'seq',
  'at',
  'clock',
  'type',
  'person_id',
  'hash',
  'data',
];

function eventCsvRow({ id, school, epoch, record }: StoredEvent): CsvCell[] {
  const personId = typeof record.data.personId === 'string' ? record.data.personId : '';
  return [
    id,
    school,
    record.device,
    epoch,
    record.seq,
    record.at,
    record.clock,
    record.type,
    personId,
    record.hash,
    JSON.stringify(record.data),
  ];
}

/** The last school day before today in the school's calendar (weekdays, less holidays and closures, plus make-up days). */
export function previousSchoolDay(calendar: Calendar, now: number): string | undefined {
  const today = localDate(now, calendar.timeZone);
  const day = new Date(`${today}T00:00:00Z`);
  for (let back = 0; back < 31; back++) {
    day.setUTCDate(day.getUTCDate() - 1);
    const date = day.toISOString().slice(0, 10);
    if (calendar.makeUpDays.some((m) => m.date === date)) return date;
    const weekday = day.getUTCDay();
    if (weekday === 0 || weekday === 6) continue;
    if (calendar.holidays.includes(date) || calendar.closures.includes(date)) continue;
    return date;
  }
  return undefined;
}

const DEFAULT_CALENDAR: Calendar = { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] };

/**
 * File mode, for schools whose central office has no API: roster CSVs dropped in the inbox are
 * imported (each whole or not at all) and moved to `done/` or `failed/` beside a `.report.json`;
 * events are exported to the outbox as CSV and JSON lines, each once, behind a durable cursor; and,
 * when wired, each school's attendance of the previous school day once a day.
 */
export class FileExchange {
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<void> | undefined;
  private stopped = true;
  private lastImport: ImportFileReport | undefined;

  constructor(private readonly deps: FileExchangeDeps) {}

  async start(): Promise<void> {
    const { inboxDir, outboxDir } = this.deps;
    for (const dir of [inboxDir, join(inboxDir, 'done'), join(inboxDir, 'failed'), outboxDir])
      await mkdir(dir, { recursive: true });
    this.stopped = false;
    this.timers = [];
    this.schedule(() => this.importInbox(), this.deps.importIntervalMs);
    this.schedule(() => this.exportOutbox(), this.deps.exportIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    await this.running;
  }

  /** Runs a task now and then every interval, one task at a time across both. */
  private schedule(task: () => Promise<unknown>, intervalMs: number): void {
    const index = this.timers.length;
    const tick = () => {
      if (this.stopped) return;
      this.exclusive(task)
        .catch((error: Error) => {
          logFailure(this.deps.logger, { err: error }, 'central file exchange failed');
          try {
            this.deps.state.set('files.lastError', error.message);
          } catch {
            // The store unreachable, as it often is when the exchange failed: the line above says why.
          }
        })
        .finally(() => {
          if (!this.stopped) this.timers[index] = setTimeout(tick, intervalMs);
        });
    };
    this.timers.push(setTimeout(tick, 0));
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = (this.running ?? Promise.resolve()).then(task);
    this.running = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Imports every CSV waiting in the inbox, oldest name first. */
  async importInbox(): Promise<ImportFileReport[]> {
    const names = (await readdir(this.deps.inboxDir, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.csv'))
      .map((entry) => entry.name)
      .sort();
    const reports: ImportFileReport[] = [];
    for (const name of names) reports.push(await this.importFile(name));
    return reports;
  }

  private async importFile(name: string): Promise<ImportFileReport> {
    const { inboxDir, roster, logger } = this.deps;
    const at = new Date().toISOString();
    const parsed = parseRosterCsv(await readFile(join(inboxDir, name), 'utf8'));
    const schools = [...new Set(parsed.cards.map(({ card }) => card.school))];
    const problems = [...parsed.problems];
    if (parsed.cards.length === 0 && problems.length === 0)
      problems.push({ line: 0, problem: 'no cards in the file' });
    if (schools.length > 1)
      problems.push({ line: 0, problem: `one school per file: the file names ${schools.join(', ')}` });
    let report: ImportFileReport = { file: name, ok: false, at, problems };
    const school = schools[0];
    if (problems.length === 0 && school !== undefined) {
      const result = await roster.importRoster(school, { cards: parsed.cards });
      report = {
        file: name,
        ok: result.ok,
        at,
        school,
        ...(result.version !== undefined ? { version: result.version } : {}),
        added: result.added,
        updated: result.updated,
        revoked: result.revoked,
        unchanged: result.unchanged,
        problems: result.problems,
      };
    }
    const target = join(inboxDir, report.ok ? 'done' : 'failed');
    // The report first: a file seen in done/ or failed/ always has its report beside it.
    await writeFileDurable(join(target, `${name}.report.json`), `${JSON.stringify(report, null, 2)}\n`);
    await rename(join(inboxDir, name), join(target, name));
    await fsyncDirectory(inboxDir);
    await fsyncDirectory(target);
    this.lastImport = report;
    if (report.ok) logger.info({ file: name, school, version: report.version }, 'roster file imported');
    else
      logger.warn({ file: name, problems: report.problems.length }, 'roster file refused: nothing imported');
    return report;
  }

  /** Exports the events stored since the last export, then each school's attendance when due. */
  async exportOutbox(now = Date.now()): Promise<number> {
    const { store, state, outboxDir, logger } = this.deps;
    let exported = 0;
    for (;;) {
      const after = state.number('files.exportedThrough');
      const events = store.queryEvents({
        afterId: after,
        throughId: store.settledEventId(),
        limit: EXPORT_CHUNK,
      });
      const first = events[0];
      const last = events.at(-1);
      if (!first || !last) break;
      // Named by the first event: a run cut short before its cursor moved writes the same files again.
      const name = `events-${String(first.id).padStart(12, '0')}`;
      const jsonLines = events.map((event) => JSON.stringify(exportedRecord(event))).join('\n');
      await writeFilesDurable([
        {
          path: join(outboxDir, `${name}.csv`),
          data: toCsv([CSV_HEADER, ...events.map(eventCsvRow)]),
          mode: 0o644,
        },
        { path: join(outboxDir, `${name}.jsonl`), data: `${jsonLines}\n`, mode: 0o644 },
      ]);
      state.set('files.exportedThrough', last.id);
      state.set('files.lastExportAt', new Date().toISOString());
      exported += events.length;
      logger.info({ file: name, events: events.length }, 'events exported');
    }
    await this.exportAttendance(now);
    return exported;
  }

  private async exportAttendance(now: number): Promise<void> {
    const { exportAttendance, directory, store, state, outboxDir, logger, onBadRow } = this.deps;
    if (!exportAttendance) return;
    const schools = new Set([...directory.schools().map((s) => s.id), ...store.rosterSchools()]);
    // A file is named only from an identifier: an id with a "/" or ".." could write outside the outbox.
    for (const school of usableIds([...schools].sort(), 'school', onBadRow)) {
      const calendar = store.rosterSettings(school)?.calendar ?? DEFAULT_CALENDAR;
      const date = previousSchoolDay(calendar, now);
      const key = `files.attendance.${school}`;
      if (!date || (state.get(key) ?? '') >= date) continue;
      const csv = await exportAttendance(school, date);
      await writeFileDurable(join(outboxDir, `attendance-${school}-${date}.csv`), csv);
      state.set(key, date);
      logger.info({ school, date }, 'attendance exported');
    }
  }

  status(): FileStatus {
    const { state, inboxDir, outboxDir } = this.deps;
    const lastExportAt = state.get('files.lastExportAt');
    const lastError = state.get('files.lastError');
    return {
      inboxDir,
      outboxDir,
      exportedThrough: state.number('files.exportedThrough'),
      ...(this.lastImport ? { lastImport: this.lastImport } : {}),
      ...(lastExportAt ? { lastExportAt } : {}),
      ...(lastError ? { lastError } : {}),
    };
  }
}

function exportedRecord({ id, school, epoch, receivedAt, record }: StoredEvent): {
  id: number;
  school: string;
  epoch: number;
  receivedAt: string;
  record: EventRecord;
} {
  return { id, school, epoch, receivedAt, record };
}
