import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bridge } from '@educard/cloud-bridge';
import { until } from '@educard/scripts/support';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startBridge } from '../support/bridge.js';
import { centralStatus, chainedRecords, deviceSender, exportedRecords } from '../support/central-server.js';
import { rosterCsv, rosterCsvRow } from '../support/roster-csv.js';

let dir: string;
let bridge: Bridge | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'central-files-'));
});
afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  await rm(dir, { recursive: true, force: true });
});

const fileConfig = () => ({
  mode: 'file',
  files: {
    inboxDir: join(dir, 'inbox'),
    outboxDir: join(dir, 'outbox'),
    importIntervalMs: 20,
    exportIntervalMs: 20,
  },
});

describe('file mode', () => {
  it('imports a roster file whole, refuses a bad one whole, each beside its report', async () => {
    await mkdir(join(dir, 'inbox'), { recursive: true });
    await writeFile(join(dir, 'inbox', '1-good.csv'), rosterCsv(rosterCsvRow(1), rosterCsvRow(2)));
    await writeFile(
      join(dir, 'inbox', '2-bad.csv'),
      rosterCsv(rosterCsvRow(3), rosterCsvRow(4, { valid_until: 'tomorrow' })),
    );
    bridge = await startBridge(join(dir, 'bridge'), { central: fileConfig() });
    await until(async () => (await readdir(join(dir, 'inbox', 'failed'))).length === 2);
    expect((await readdir(join(dir, 'inbox', 'done'))).sort()).toEqual([
      '1-good.csv',
      '1-good.csv.report.json',
    ]);
    expect((await readdir(join(dir, 'inbox'))).filter((n) => n.endsWith('.csv'))).toEqual([]);
    const good = JSON.parse(await readFile(join(dir, 'inbox', 'done', '1-good.csv.report.json'), 'utf8'));
    expect(good).toMatchObject({ ok: true, school: 'school-1', version: 1, added: 2, problems: [] });
    const bad = JSON.parse(await readFile(join(dir, 'inbox', 'failed', '2-bad.csv.report.json'), 'utf8'));
    expect(bad).toMatchObject({
      ok: false,
      problems: [{ line: 3, problem: expect.stringMatching(/validUntil/) }],
    });
    // Nothing of the bad file reached the roster, not even its good row.
    expect(bridge.store.latestRosterVersion('school-1')?.version).toBe(1);
    expect(bridge.store.rosterCards('school-1')).toHaveLength(2);
    expect((await centralStatus(bridge.httpUrl)).mode).toBe('file');
  });

  it('exports each event once, as CSV and JSON lines, across a restart', async () => {
    bridge = await startBridge(join(dir, 'bridge'), { central: fileConfig() });
    const sender = await deviceSender(bridge, dir, 'gate-01');
    const run = chainedRecords(
      'gate-01',
      Array.from({ length: 30 }, () => new Date().toISOString()),
    );
    await sender.send(run.slice(0, 10));
    await until(async () => (await exportedSeqs()).length === 10);
    await sender.close();
    await bridge.stop();
    bridge = await startBridge(join(dir, 'bridge'), { central: fileConfig() });
    const resumed = await deviceSender(bridge, dir, 'gate-02');
    await resumed.send(
      chainedRecords(
        'gate-02',
        Array.from({ length: 20 }, () => new Date().toISOString()),
      ),
    );
    await until(async () => (await exportedSeqs()).length === 30);
    expect(await exportedSeqs()).toEqual([
      ...Array.from({ length: 10 }, (_, i) => `gate-01:${i + 1}`),
      ...Array.from({ length: 20 }, (_, i) => `gate-02:${i + 1}`),
    ]);
    const csvFiles = (await readdir(join(dir, 'outbox'))).filter((n) => n.endsWith('.csv'));
    const csvRows = (
      await Promise.all(csvFiles.map((n) => readFile(join(dir, 'outbox', n), 'utf8')))
    ).flatMap((text) => text.trim().split('\n').slice(1));
    expect(csvRows).toHaveLength(30);
    expect(csvRows[0]).toMatch(
      /^1,school-1,gate-01,1,.*,synced,gate.decision,p-gate-01,[0-9a-f]{64},"{""station""/,
    );
    await resumed.close();
  });
});

/** device:seq of every event in the JSON lines files, in file order. */
async function exportedSeqs(): Promise<string[]> {
  return (await exportedRecords(join(dir, 'outbox'))).map((record) => `${record.device}:${record.seq}`);
}
