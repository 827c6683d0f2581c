import { readFile } from 'node:fs/promises';
import { writeFileDurable } from '@educard/terminal-sdk/files';

export { fsyncDirectory, writeFileDurable, writeFilesDurable } from '@educard/terminal-sdk/files';

/**
 * A lowdb adapter that writes the way {@link writeFileDurable} does. lowdb's own JSONFile renames
 * atomically but never fsyncs, so a power cut could take back a write it had reported done.
 */
export class DurableJsonFile<T> {
  constructor(private readonly path: string) {}

  async read(): Promise<T | null> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  write(data: T): Promise<void> {
    return writeFileDurable(this.path, JSON.stringify(data, null, 2));
  }
}
