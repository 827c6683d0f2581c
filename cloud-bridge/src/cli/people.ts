import { Identifier, IsoDate } from '@educard/terminal-sdk';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import type { Command } from 'commander';
import type { BookOut } from '../library/index.js';
import { type BridgeOptions, bridgeOptions, connect } from './client.js';

interface TransferOptions extends BridgeOptions {
  to: string;
  on?: string;
  class?: string;
}

interface Transferred {
  id: number;
  personId: string;
  from: string;
  to: string;
  on: string;
  cards: string[];
  versions: { school: string; version: number }[];
  booksOut?: BookOut[];
  message?: string;
}

/** The books still out at the school library the person left, for whoever moved them to pass on. */
function booksOutLines(books: BookOut[] | undefined): string {
  if (!books?.length) return '';
  const listed = books.map((book) => `  ${book.itemId}  ${book.title ?? ''}  due ${book.dueDate}`);
  return [
    `\n${books.length} book(s) still out at the ${books[0]?.school} library (on its overdue list once late):`,
    ...listed,
  ].join('\n');
}

async function transfer(personId: string, options: TransferOptions): Promise<void> {
  if (!Identifier.safeParse(personId).success)
    throw usageError(`${personId} is not a person id`, "give the person's id as the directory holds it");
  if (!Identifier.safeParse(options.to).success)
    throw usageError(`--to ${options.to} is not a school id`, 'e.g. --to school-2');
  if (options.on !== undefined && !IsoDate.safeParse(options.on).success)
    throw usageError(`--on ${options.on} is not a date`, 'give it as YYYY-MM-DD, e.g. --on 2027-02-20');
  const bridge = await connect(options);
  const { status, data } = await bridge.request<Transferred>(
    'POST',
    `/v1/people/${encodeURIComponent(personId)}/transfer`,
    {
      json: {
        to: options.to,
        ...(options.on ? { on: options.on } : {}),
        ...(options.class ? { class: options.class } : {}),
      },
      notFound: 'check the person id and the school id: both must be known to the bridge (its directory)',
      allow: [409],
    },
  );
  if (status === 409) throw new CliError(`${data.message}: nothing was changed`, 1);
  const versions = data.versions.map((v) => `${v.school} version ${v.version}`).join(' and ');
  print(
    options.json,
    data,
    () =>
      `${data.personId} moved from ${data.from} to ${data.to} on ${data.on}` +
      (data.cards.length
        ? `, with ${data.cards.length} card(s): ${versions}; gateways take it at once.`
        : '; no card moved with them.') +
      booksOutLines(data.booksOut),
  );
}

interface Removed {
  personId: string;
  school: string;
  cards: string[];
  versions: number[];
  anonymiseAfter: string;
  booksOut?: BookOut[];
}

async function remove(personId: string, options: BridgeOptions & { json?: boolean }): Promise<void> {
  if (!Identifier.safeParse(personId).success)
    throw usageError(`${personId} is not a person id`, "give the person's id as the directory holds it");
  const bridge = await connect(options);
  const { data } = await bridge.request<Removed>(
    'POST',
    `/v1/people/${encodeURIComponent(personId)}/remove`,
    {
      json: {},
      notFound: 'check the person id: the bridge knows it from its directory or a roster',
    },
  );
  print(
    options.json,
    data,
    () =>
      `${data.personId} left ${data.school}: ${data.cards.length} card(s) cancelled (gateways take it at once; parent notices stop); what the bridge keeps of them is anonymised after ${data.anonymiseAfter}.` +
      booksOutLines(data.booksOut),
  );
}

export function registerPeople(program: Command): void {
  const people = example(
    program
      .command('people')
      .description(
        'the people of the directory: move one to another school, or remove one who left the district',
      ),
    'educard-bridge people transfer p-0001 --to school-2',
  );
  example(
    bridgeOptions(
      people
        .command('transfer')
        .description(
          "moves a person to another school of the district, as the change feed would: their cards leave the old school's roster (its gates deny them as transferred) and join the new school's; attendance counts them at the new school from --on; parent notices go to its webhook. For districts without a change feed; audited",
        )
        .argument('<person-id>', "the person's id, as the directory holds it")
        .requiredOption('--to <school>', 'the school they move to')
        .option('--on <date>', 'their first day there (YYYY-MM-DD), today or earlier; today by default')
        .option('--class <class>', 'their class at the new school; none until one is given otherwise')
        .option('--json', 'print as JSON'),
    ).action((personId: string, options: TransferOptions) => transfer(personId, options)),
    'educard-bridge people transfer p-0001 --to school-2 --class 5-2',
    'educard-bridge people transfer p-0001 --to school-2 --on 2027-02-20 --json',
  );
  example(
    bridgeOptions(
      people
        .command('remove')
        .description(
          "a person who left the district: their cards are cancelled at once on their school's roster (gates deny them, parent notices stop), and after retention.leaverDays what the bridge keeps of them is anonymised (docs/privacy.md). Audited",
        )
        .argument('<person-id>', "the person's id, as the directory holds it")
        .option('--json', 'print as JSON'),
    ).action((personId: string, options: BridgeOptions & { json?: boolean }) => remove(personId, options)),
    'educard-bridge people remove p-0001',
  );
}
