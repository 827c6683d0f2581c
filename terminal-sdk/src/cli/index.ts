import { Command, CommanderError } from 'commander';

/**
 * A failure a command reports to its user: the message says what went wrong, the hint what to do
 * next. Exit code 2 is bad usage (flags, arguments, a file that is not what it must be), 1 a failure.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string, hint?: string) => new CliError(message, 2, hint);

/**
 * A commander program that reports instead of exiting, so `runCli` alone decides the exit code, and
 * that shows the help after a usage error. Subcommands made with `.command()` inherit both.
 */
export function createProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .exitOverride()
    .showHelpAfterError('(add --help for usage and an example)')
    .allowExcessArguments(false);
}

/** Adds an example to a command's `--help`. */
export function example<T extends Command>(command: T, ...lines: string[]): T {
  command.addHelpText('after', `\nExample:\n${lines.map((line) => `  $ ${line}`).join('\n')}`);
  return command;
}

/** Runs a program and returns the exit code: 0 ok, 1 failed, 2 bad usage. */
export async function runCli(program: Command, argv: readonly string[] = process.argv): Promise<number> {
  try {
    await program.parseAsync(argv as string[]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has printed its message (or the help) already; --help and --version end with 0, the
      // help shown for a missing subcommand and every parse error are bad usage.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CliError) {
      process.stderr.write(`error: ${error.message}\n${error.hint ? `${error.hint}\n` : ''}`);
      return error.exitCode;
    }
    process.stderr.write(`error: ${(error as Error).message ?? String(error)}\n`);
    return 1;
  }
}

/** Prints data as one JSON document with `--json`, otherwise as the text a person reads. */
export function print(json: boolean | undefined, data: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/** Lays rows out as aligned columns under a header. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
