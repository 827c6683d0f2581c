import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Where the service's configuration lives unless `--config` or `EDUCARD_CONFIG` says otherwise. */
export const DEFAULT_CONFIG = '/etc/educard/gateway.json';

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    problems: string,
  ) {
    super(`configuration ${path} is not valid: ${problems}`);
    this.name = 'ConfigError';
  }
}

/**
 * The config file as JSON, not yet checked against any schema. Its own file, free of the schemas,
 * for the update guard, which reads only the `update` section (gateway/src/updates/guard-main.ts).
 */
export async function readConfigJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      path,
      `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(path, `is not JSON (${(error as Error).message})`);
  }
}

/** A path written in the config file at `path`, taken relative to the file's folder. */
export function relativeToConfig(path: string, value: string): string {
  return resolve(dirname(resolve(path)), value);
}
