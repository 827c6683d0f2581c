import { basename, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalBytes, type EventRecord } from '@educard/terminal-sdk';
import { CliError, example, print, usageError } from '@educard/terminal-sdk/cli';
import { type Command, InvalidArgumentError } from 'commander';
import type { GatewayConfig } from '../config/index.js';
import {
  type JournalCheck,
  JournalDamaged,
  JournalFollower,
  JournalReader,
  type StoredRecord,
} from '../journal/index.js';
import { maskCardId } from '../log/index.js';
import { writeFileDurable } from '../storage/index.js';
import { configPath, readConfig, wantsJson } from './context.js';

const FOLLOW_POLL_MS = 500;
const EXPORT_CHUNK_BYTES = 1024 * 1024;
const NEWLINE = Buffer.from('\n');

export const journalDir = (config: GatewayConfig) => join(config.dataDir, 'journal');

export function wholeNumber(min: number) {
  return (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min) {
      throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    }
    return number;
  };
}

/** Opens the journal read-only, or says why it cannot be read. */
export async function openJournal(config: GatewayConfig): Promise<JournalReader> {
  const dir = journalDir(config);
  try {
    return await JournalReader.open(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(
        `there is no journal at ${dir}`,
        1,
        'The gateway makes it at its first start; check dataDir in the configuration (educard config get dataDir).',
      );
    }
    if (code === 'EACCES') throw new CliError(`no permission to read ${dir}`, 1, 'Run it with sudo.');
    throw new CliError(`the journal at ${dir} cannot be read: ${(error as Error).message}`);
  }
}

/** A failure while reading the journal or writing an export, told as what to do next. */
function readFailure(error: unknown, out?: string): never {
  if (error instanceof JournalDamaged) {
    throw new CliError(
      `the journal is damaged: ${error.message}`,
      1,
      'See what is whole and where it breaks with: educard journal verify',
    );
  }
  const { code, path } = error as NodeJS.ErrnoException;
  if (code === 'EACCES' || code === 'EPERM')
    throw new CliError(`no permission to open ${path}`, 1, 'Run it with sudo.');
  if (out && code) {
    throw new CliError(
      `cannot write ${out} (${code})`,
      1,
      'Give --out a file in a directory that exists and has room, or write to standard output.',
    );
  }
  throw error;
}

/** A reader that went away (`| head`) ends the output quietly, as other command-line tools do. */
function quietOnClosedPipe(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(0);
  });
}

/** A record as shown: with its card id masked unless the full ids are asked for. */
export function shown(record: EventRecord, fullCardIds: boolean): EventRecord {
  const cardId = record.data.cardId;
  if (fullCardIds || typeof cardId !== 'string') return record;
  return { ...record, data: { ...record.data, cardId: maskCardId(cardId) } };
}

/** One line's worth of what an event says. */
export function summary(record: EventRecord): string {
  const d = record.data as Record<string, unknown>;
  switch (record.type) {
    case 'gate.decision': {
      const flags = Array.isArray(d.flags) && d.flags.length ? ` [${d.flags.join(', ')}]` : '';
      const person = d.personId ? ` ${d.personId}${d.role ? ` (${d.role})` : ''}` : '';
      return `${String(d.decision).toUpperCase()} ${d.reason} at ${d.reader} (${d.direction}): card ${d.cardId}${person}${flags}`;
    }
    case 'door.forced':
    case 'door.held-open':
      return `${d.station} (${d.zone}): open for ${Math.round(Number(d.openForMs) / 1000)} s`;
    case 'door.exit-request':
    case 'door.emergency-release':
    case 'gate.lockdown':
      return `${d.station} (${d.zone})`;
    case 'door.emergency-restored':
      return `${d.station} (${d.zone}): released for ${Math.round(Number(d.releasedForMs) / 1000)} s`;
    case 'gate.lockdown-lifted':
      return `${d.station} (${d.zone}): lifted after ${Math.round(Number(d.lockedForMs) / 1000)} s`;
    case 'door.remote-open':
      return `${d.station} (${d.zone}): ${d.seconds} s by ${d.command}`;
    case 'journal.disk-low':
      return `${Math.round(Number(d.freeBytes) / 1048576)} MiB free; budget ${Math.round(Number(d.budgetBytes) / 1048576)} MiB`;
    case 'roster.applied':
      return `version ${d.version} (${d.kind})`;
    case 'roster.rejected':
      return String(d.reason);
    case 'journal.damaged': {
      const range =
        d.firstSeq === undefined
          ? `${d.records} record(s)`
          : `records ${d.firstSeq} to ${d.lastSeq}${d.bound ? ' (at most)' : ''}`;
      return `${d.cause}: ${range} lost; ${d.reason}`;
    }
    case 'gateway.started':
      return `firmware ${d.firmware}${Number(d.recoveredBytes) > 0 ? `; ${d.recoveredBytes} bytes of torn tail dropped` : ''}`;
    default:
      return JSON.stringify(d);
  }
}

export const recordLine = (record: EventRecord) =>
  `${String(record.seq).padStart(7)}  ${record.at}  ${record.type.padEnd(17)} ${summary(record)}`;

async function tail(
  config: GatewayConfig,
  options: { lines: number; follow?: boolean; fullCardIds?: boolean },
  json: boolean,
) {
  const reader = await openJournal(config);
  const full = Boolean(options.fullCardIds);
  let last: StoredRecord[];
  try {
    last = reader.last(options.lines);
  } catch (error) {
    readFailure(error);
  }
  const records = last.map((stored) => shown(stored.record, full));
  if (!options.follow) {
    print(json, records, () =>
      records.length ? records.map(recordLine).join('\n') : `the journal holds no records (${reader.dir})`,
    );
    return;
  }
  quietOnClosedPipe();
  const emit = (record: EventRecord) =>
    process.stdout.write(`${json ? JSON.stringify(record) : recordLine(record)}\n`);
  for (const record of records) emit(record);
  const stop = new AbortController();
  const abort = () => stop.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  if (!json) process.stderr.write('following the journal; Ctrl-C to stop\n');
  const follower = new JournalFollower(reader.dir, (last.at(-1)?.record.seq ?? reader.tip().seq) + 1);
  while (!stop.signal.aborted) {
    for (const stored of follower.poll()) emit(shown(stored.record, full));
    await sleep(FOLLOW_POLL_MS, undefined, { signal: stop.signal }).catch(() => undefined);
  }
}

async function exportRecords(
  config: GatewayConfig,
  options: { from?: number; to?: number; out?: string; fullCardIds?: boolean },
  json: boolean,
) {
  const from = options.from ?? 1;
  const to = options.to ?? Number.MAX_SAFE_INTEGER;
  if (from > to) throw usageError(`--from ${from} is after --to ${to}`);
  const reader = await openJournal(config);
  const full = Boolean(options.fullCardIds);
  const done = {
    records: 0,
    firstSeq: undefined as number | undefined,
    lastSeq: undefined as number | undefined,
  };
  const lineOf = (stored: StoredRecord) => {
    done.records += 1;
    done.firstSeq ??= stored.record.seq;
    done.lastSeq = stored.record.seq;
    // Exactly as journaled: the record's canonical JSON from the segment, one per line.
    return full ? stored.bytes : canonicalBytes(shown(stored.record, false));
  };
  function* chunks(): Generator<Uint8Array> {
    let pending: Uint8Array[] = [];
    let size = 0;
    for (const stored of reader.records(from, to)) {
      const line = lineOf(stored);
      pending.push(line, NEWLINE);
      size += line.length + 1;
      if (size >= EXPORT_CHUNK_BYTES) {
        yield Buffer.concat(pending);
        pending = [];
        size = 0;
      }
    }
    if (pending.length) yield Buffer.concat(pending);
  }
  try {
    if (options.out) {
      const out = resolve(options.out);
      await writeFileDurable(out, chunks(), full ? 0o600 : 0o644);
      const data = { out, ...done, fullCardIds: full };
      print(json, data, () =>
        done.records
          ? `exported ${done.records} record(s), ${done.firstSeq} to ${done.lastSeq}, to ${out}`
          : `no records in that range: wrote an empty ${out}`,
      );
    } else {
      quietOnClosedPipe();
      for (const chunk of chunks()) {
        if (!process.stdout.write(chunk))
          await new Promise((resolve) => process.stdout.once('drain', resolve));
      }
      process.stderr.write(
        done.records
          ? `exported ${done.records} record(s), ${done.firstSeq} to ${done.lastSeq}\n`
          : 'no records in that range\n',
      );
    }
  } catch (error) {
    readFailure(error, options.out);
  }
  const kept = reader.segments()[0]?.firstSeq;
  if (kept !== undefined && from < kept && options.from !== undefined) {
    process.stderr.write(`records before ${kept} were delivered to the bridge and are no longer kept here\n`);
  }
  if (!full && done.records > 0) {
    process.stderr.write(
      'card ids are masked; add --full-card-ids for the records exactly as journaled (what the bridge takes)\n',
    );
  }
}
function checkText(check: JournalCheck, dir: string): string {
  const range =
    check.firstSeq === undefined ? 'none after the base' : `${check.firstSeq} to ${check.lastSeq}`;
  const lines = [
    `journal    ${dir}: ${check.segments} segment(s), ${(check.bytes / 1048576).toFixed(2)} MiB`,
    `records    ${check.records} checked (${range}), from the cursor's base at ${check.baseSeq}`,
    `delivered  up to ${check.ackedSeq}; ${Math.max(0, check.lastSeq - check.ackedSeq)} not yet acknowledged by the bridge`,
  ];
  if (check.tornTail) {
    const t = check.tornTail;
    lines.push(
      `torn tail  ${basename(t.segment)}: ${t.bytes} byte(s) at byte ${t.offset} (${t.reason}): a write under way, or one cut short; the gateway drops it at its next start`,
    );
  }
  for (const loss of check.losses) {
    const range =
      loss.firstSeq === undefined
        ? `${loss.records} record(s)`
        : `records ${loss.firstSeq} to ${loss.lastSeq}`;
    lines.push(`loss       ${range} (${loss.cause}), explained by record ${loss.seq}: ${loss.reason}`);
  }
  for (const note of check.notes) lines.push(`note       ${note}`);
  lines.push(
    check.ok
      ? check.losses.length
        ? `journal verified: every frame whole, the hash chain unbroken but for ${check.losses.length} loss(es) the journal explains`
        : 'journal verified: every frame whole, the hash chain unbroken'
      : `BROKEN at record ${check.problem?.seq}: ${check.problem?.problem}${check.problem?.segment ? ` (${basename(check.problem.segment)}, byte ${check.problem.offset})` : ''}`,
  );
  return lines.join('\n');
}

export function registerJournal(program: Command): void {
  const journal = example(
    program
      .command('journal')
      .description(`the device's event journal, read from its files (safe while the gateway runs)`),
    'educard journal tail -n 50',
    'educard journal verify',
  );

  example(
    journal
      .command('tail')
      .description('the last records, one line each: seq, time, type, what happened')
      .option('-n, --lines <count>', 'how many records', wholeNumber(0), 20)
      .option('-f, --follow', 'go on printing new records as the gateway journals them, until Ctrl-C')
      .option('--full-card-ids', 'show card ids in full (masked to their last four characters otherwise)')
      .option('--json', 'print JSON (one record per line with --follow)'),
    'educard journal tail -n 50',
    'educard journal tail -f',
  ).action(async (options: { lines: number; follow?: boolean; fullCardIds?: boolean }, command: Command) => {
    const config = await readConfig(configPath(command));
    await tail(config, options, wantsJson(command));
  });

  example(
    journal
      .command('export')
      .description(
        'records as JSON lines, for the bridge or an investigation; with --out written atomically to a file',
      )
      .option('--from <seq>', 'the first record (default: the oldest kept)', wholeNumber(1))
      .option('--to <seq>', 'the last record (default: the newest)', wholeNumber(1))
      .option('-o, --out <file>', 'write to this file (atomically) instead of standard output')
      .option(
        '--full-card-ids',
        'the records exactly as journaled, card ids in full (masked to their last four characters otherwise)',
      )
      .option('--json', 'with --out, print the summary as JSON'),
    'sudo educard journal export --full-card-ids --out /tmp/gate-01-journal.jsonl',
    'educard journal export --from 1200 --to 1300 | jq -c "select(.type == \\"door.forced\\")"',
  ).action(
    async (
      options: { from?: number; to?: number; out?: string; fullCardIds?: boolean },
      command: Command,
    ) => {
      const config = await readConfig(configPath(command));
      await exportRecords(config, options, wantsJson(command));
    },
  );

  example(
    journal
      .command('verify')
      .description(
        'check every frame (length, CRC) and the hash chain of what is kept; exit 1 with the record where it breaks',
      )
      .option('--json', 'print JSON'),
    'educard journal verify',
  ).action(async (_options, command: Command) => {
    const config = await readConfig(configPath(command));
    const reader = await openJournal(config);
    const check = await reader.check();
    print(wantsJson(command), check, () => checkText(check, reader.dir));
    if (!check.ok) {
      process.stderr.write(
        `Before anything else keep a copy: sudo cp -a ${reader.dir} ${reader.dir}.damaged-$(date +%s). ` +
          `What is whole before the break can be saved with: educard journal export --to ${Math.max(1, (check.problem?.seq ?? 2) - 1)} --full-card-ids --out FILE. ` +
          'At its next start the gateway moves a damaged segment to quarantine/, keeps what is whole and journals the loss (docs/gateway.md, Journal); a break no journal.damaged record explains is not damage the gateway made good: the journal may have been tampered with.\n',
      );
      process.exitCode = 1;
    }
  });
}
