import { type ParseArgsConfig, parseArgs } from 'node:util';

type Parsed<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

/**
 * The command line of one of the repository's scripts, each option a `--help` away: the parsed
 * arguments, or the exit code to stop with once the usage is printed (0 for `--help`, 2 for bad usage).
 */
export function parseCommandLine<const T extends ParseArgsConfig>(
  config: T,
  usage: string,
): Parsed<T> | number {
  let parsed: Parsed<T>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    return usageFailure((error as Error).message, usage);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  return parsed;
}

/** Says what was wrong with the command line, then the usage: exit code 2. */
export function usageFailure(message: string, usage: string): number {
  process.stderr.write(`${message}\n${usage}\n`);
  return 2;
}
