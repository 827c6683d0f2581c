import { localDate } from '@educard/terminal-sdk';
import { example, print, table, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import {
  type CatalogueImportReport,
  type ItemProblem,
  type OverdueList,
  overdueCsv,
  type ParentReminder,
} from '../library/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';
import { importCsv } from './import.js';

interface OverdueOptions extends BridgeOptions {
  school: string;
  class?: string;
  csv?: boolean;
}

interface CatalogueOptions extends BridgeOptions {
  school: string;
  dryRun?: boolean;
}

async function overdue(options: OverdueOptions): Promise<void> {
  if (options.csv && options.json) throw usageError('--csv and --json both given', 'choose one of them');
  const bridge = await connect(options);
  const { data } = await bridge.request<OverdueList>(
    'GET',
    `/v1/library/${encodeURIComponent(options.school)}/overdue${options.class ? `?class=${encodeURIComponent(options.class)}` : ''}`,
  );
  const where = data.class ? `${data.school} (class ${data.class})` : data.school;
  // The same file as GET …/overdue.csv: a cron job can mail it to the form teachers.
  if (options.csv) {
    process.stdout.write(overdueCsv(data));
    return;
  }
  // Where the school sends parents reminders of overdue books: what became of the last one of each.
  const reminders = data.loans.some((loan) => loan.parentsReminded);
  print(options.json, data, () =>
    data.loans.length === 0
      ? `nothing is overdue at ${where}`
      : [
          `${data.loans.length} loan(s) overdue at ${where}:`,
          table(
            ['class', 'name', 'title', 'item', 'due', 'days late', ...(reminders ? ['parents told'] : [])],
            data.loans.map((loan) => [
              loan.class ?? (loan.nowAt ? `now at ${loan.nowAt}` : (loan.role ?? '')),
              loan.name,
              loan.title ?? '',
              loan.itemId,
              localDate(Date.parse(loan.dueAt), data.timeZone),
              loan.daysOverdue,
              ...(reminders ? [reminderWords(loan.parentsReminded)] : []),
            ]),
          ),
        ].join('\n'),
  );
}

/** A reminder to the parents as the table says it: delivered or given up on its school day, or on its way. */
function reminderWords(reminder: ParentReminder | undefined): string {
  if (!reminder) return '';
  return reminder.state === 'waiting' ? 'on its way' : `${reminder.state} ${reminder.date}`;
}

function summary(report: CatalogueImportReport, school: string, file: string): string {
  const counts = `${report.added} to add, ${report.updated} to change, ${report.removed} to take out, ${report.unchanged} unchanged`;
  if (report.dryRun)
    return `dry run of ${file} for ${school}: ${counts}; no problems. Nothing was changed: run without --dry-run to apply.`;
  if (report.version === undefined)
    return `nothing to change: the catalogue of ${school} already matches ${file}.`;
  return `catalogue of ${school} is now version ${report.version}: ${report.added} added, ${report.updated} changed, ${report.removed} taken out, ${report.unchanged} unchanged. Library desks take it as they connect.`;
}

function importCatalogue(file: string, options: CatalogueOptions): Promise<void> {
  return importCsv<ItemProblem, CatalogueImportReport>(file, options, {
    what: 'catalogue',
    path: `/v1/catalogue/${encodeURIComponent(options.school)}/import`,
    summary: (report) => summary(report, options.school, file),
    idColumn: 'item',
    idOf: (problem) => problem.itemId,
  });
}

export function registerLibrary(program: Command): void {
  const library = example(
    program
      .command('library')
      .description('a school library: the loans overdue, and the catalogue imported from a CSV'),
    'educard-bridge library overdue --school school-1 --csv > overdue.csv',
    'educard-bridge library import catalogue.csv --school school-1 --dry-run',
  );
  example(
    bridgeOptions(
      library
        .command('overdue')
        .description('every open loan past its due date, by class, then name, with the title and days late')
        .requiredOption('--school <id>', 'the school whose library it is')
        .option('--class <id>', "one class's pupils only (a form teacher's list)")
        .option('--csv', 'print the CSV to print or mail (UTF-8 with a BOM, CRLF; dates local)')
        .option('--json', 'print as JSON'),
    ).action((options: OverdueOptions) => overdue(options)),
    'educard-bridge library overdue --school school-1',
    'educard-bridge library overdue --school school-1 --class 3B --csv > overdue-3B.csv',
  );
  example(
    bridgeOptions(
      library
        .command('import')
        .description(
          "replace a school's catalogue with a CSV: every row checked, all or nothing; items no longer listed are taken out",
        )
        .argument('<file>', 'the catalogue CSV: item_id,title,call_number,status (docs/api.md)')
        .requiredOption('--school <id>', 'the school whose library it is')
        .option('--dry-run', 'check every row and report, change nothing')
        .option('--json', 'print the report as JSON'),
    ).action((file: string, options: CatalogueOptions) => importCatalogue(file, options)),
    'educard-bridge library import catalogue.csv --school school-1',
  );
}
