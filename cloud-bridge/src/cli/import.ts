import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CliError, example, print, table, usageError } from '@educard/terminal-sdk/cli';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { ImportReport } from '../roster/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface ImportOptions extends BridgeOptions {
  school: string;
  dryRun?: boolean;
}

/** The bridge takes bodies up to this size. */
const MAX_BYTES = 25 * 1024 * 1024;
/** Files from this size get a progress bar (on a terminal). */
const BAR_FROM_BYTES = 1024 * 1024;

/** The size of a CSV to upload, or a usage error saying what is wrong with the path (`what`: whose CSV). */
export async function checkFile(path: string, what: string): Promise<number> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw usageError(
      code === 'ENOENT' ? `no file ${path}` : `cannot read ${path} (${code})`,
      `give the path of the ${what} CSV (docs/api.md lists its columns)`,
    );
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw usageError(`${path} is not a file`, `give the path of the ${what} CSV`);
    if (stats.size === 0) throw usageError(`${path} is empty`, `a ${what} CSV starts with its header row`);
    if (stats.size > MAX_BYTES)
      throw usageError(
        `${path} is ${(stats.size / 1048576).toFixed(1)} MB; the bridge takes at most 25 MB`,
        'leave out columns that are empty, or import the school in JSON through the API (docs/api.md)',
      );
    return stats.size;
  } finally {
    await handle.close();
  }
}

/** The file as a request body, read as it is sent, moving a progress bar on a terminal for a large file. */
export function uploadBody(
  path: string,
  size: number,
  quiet: boolean,
  then = 'the bridge is checking every row…',
): ReadableStream<Uint8Array> {
  const bar =
    !quiet && process.stderr.isTTY && size >= BAR_FROM_BYTES
      ? new cliProgress.SingleBar(
          {
            stream: process.stderr,
            format: 'uploading {bar} {percentage}% | {value}/{total} KiB',
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        )
      : undefined;
  bar?.start(Math.ceil(size / 1024), 0);
  let sent = 0;
  const chunks = createReadStream(path)[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = (await chunks.next()) as { value: Buffer; done: boolean };
      if (done) {
        bar?.update(Math.ceil(size / 1024));
        bar?.stop();
        if (bar) process.stderr.write(`uploaded; ${then}\n`);
        controller.close();
        return;
      }
      sent += value.length;
      bar?.update(Math.floor(sent / 1024));
      controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      bar?.stop();
      await chunks.return?.();
    },
  });
}

function summary(report: ImportReport, school: string, file: string): string {
  const counts = `${report.added} to add, ${report.updated} to update, ${report.revoked} to cancel, ${report.unchanged} unchanged`;
  if (report.dryRun)
    return `dry run of ${file} for ${school}: ${counts}; no problems. Nothing was changed: run without --dry-run to apply.`;
  if (report.version === undefined)
    return `nothing to change: the roster of ${school} already matches ${file}.`;
  return `roster of ${school} is now version ${report.version}: ${report.added} added, ${report.updated} updated, ${report.revoked} cancelled, ${report.unchanged} unchanged. Gateways take it as they connect.`;
}

interface CsvImportReport<P> {
  ok: boolean;
  problems: P[];
}

/** What differs between the CSV imports (roster, catalogue): the rest is one upload and one report. */
export interface CsvImport<P extends { line: number; problem: string }, R extends CsvImportReport<P>> {
  /** Whose CSV, for the messages: `roster`, `catalogue`. */
  what: string;
  /** The import route, `?dryRun=true` added for a dry run. */
  path: string;
  /** The report of a file with no problem, in words. */
  summary: (report: R) => string;
  /** The problems table's id column (`card`, `item`) and each problem's id in it. */
  idColumn: string;
  idOf: (problem: P) => string | undefined;
}

/** Uploads a CSV to an import route; prints the report, or its problems and fails (exit 1). */
export async function importCsv<P extends { line: number; problem: string }, R extends CsvImportReport<P>>(
  file: string,
  options: BridgeOptions & { dryRun?: boolean },
  spec: CsvImport<P, R>,
): Promise<void> {
  const path = resolve(file);
  const size = await checkFile(path, spec.what);
  const bridge = await connect(options);
  const { data: report } = await bridge.request<R>(
    'POST',
    `${spec.path}${options.dryRun ? '?dryRun=true' : ''}`,
    {
      body: uploadBody(path, size, options.json === true),
      contentType: 'text/csv',
      allow: [422],
      timeoutMs: 600_000,
    },
  );
  if (report.ok) {
    print(options.json, report, () => spec.summary(report));
    return;
  }
  print(options.json, report, () =>
    table(
      ['line', spec.idColumn, 'problem'],
      report.problems.map((p) => [p.line, spec.idOf(p) ?? '', p.problem]),
    ),
  );
  const rows = new Set(report.problems.map((p) => p.line)).size;
  throw new CliError(
    `the ${spec.what} was refused: ${report.problems.length} problem(s) in ${rows} row(s); nothing was changed`,
    1,
    'fix the rows listed (line 1 is the header) and run again; --dry-run checks a file without applying it',
  );
}

function importRoster(file: string, options: ImportOptions): Promise<void> {
  return importCsv<ImportReport['problems'][number], ImportReport>(file, options, {
    what: 'roster',
    path: `/v1/roster/${encodeURIComponent(options.school)}/import`,
    summary: (report) => summary(report, options.school, file),
    idColumn: 'card',
    idOf: (problem) => problem.cardId,
  });
}

export function registerImport(program: Command): void {
  example(
    bridgeOptions(
      program
        .command('import')
        .description(
          "replace a school's roster with a CSV: every row checked, all or nothing; cards no longer listed are cancelled",
        )
        .argument('<file>', 'the roster CSV (header row first; columns in docs/api.md)')
        .requiredOption('--school <id>', 'the school whose roster it is')
        .option('--dry-run', 'check every row and report, change nothing')
        .option('--json', 'print the report as JSON'),
    ).action((file: string, options: ImportOptions) => importRoster(file, options)),
    'educard-bridge import roster.csv --school school-1 --dry-run',
  );
}
