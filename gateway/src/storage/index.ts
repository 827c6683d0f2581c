import { access, mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { fsyncDirectory, writeFileDurable } from '@educard/terminal-sdk/files';

export { fsyncDirectory, writeFileDurable, writeFilesDurable } from '@educard/terminal-sdk/files';

/** The folder beside a store's files where damaged ones are kept. The gateway never deletes from it. */
export const QUARANTINE = 'quarantine';
const NOTE = '.why.json';

/** A file moved to quarantine, as its note tells it. */
export interface Quarantined {
  /** Where it is now, relative to the data directory. */
  path: string;
  /** Where it was, relative to the data directory. */
  from: string;
  reason: string;
  at: string;
}

/** A free name in the `quarantine/` folder beside `path`, stamped with the time. */
export async function quarantineTarget(path: string, at = new Date()): Promise<string> {
  const dir = join(dirname(path), QUARANTINE);
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  let target = join(dir, `${basename(path)}.${stamp}`);
  for (let n = 1; await exists(target); n++) target = join(dir, `${basename(path)}.${stamp}-${n}`);
  return target;
}

/**
 * Moves a damaged file into the `quarantine/` folder beside it (renamed with the time, so nothing is
 * overwritten, or to `target`) with a note saying why, and returns its new path. The move is a rename
 * on the same file system: it needs no free space, which a full disk may not have; the note is
 * written when it can be.
 */
export async function quarantineFile(
  path: string,
  reason: string,
  at = new Date(),
  target?: string,
): Promise<string> {
  const to = target ?? (await quarantineTarget(path, at));
  await mkdir(dirname(to), { recursive: true });
  await rename(path, to);
  await fsyncDirectory(dirname(to));
  await fsyncDirectory(dirname(path));
  await writeFileDurable(
    `${to}${NOTE}`,
    JSON.stringify({ from: basename(path), reason: reason.slice(0, 1024), at: at.toISOString() }),
  ).catch(() => undefined);
  return to;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Every quarantined file under a data directory: its own folder and those of its stores, one level down. */
export async function listQuarantined(dataDir: string): Promise<Quarantined[]> {
  const stores = await readdir(dataDir, { withFileTypes: true }).catch(() => []);
  const dirs = [
    join(dataDir, QUARANTINE),
    ...stores.filter((entry) => entry.isDirectory()).map((entry) => join(dataDir, entry.name, QUARANTINE)),
  ];
  const found: Quarantined[] = [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => !n.endsWith(NOTE))) {
      const note = await readFile(join(dir, `${name}${NOTE}`), 'utf8')
        .then((text) => JSON.parse(text) as { from?: string; reason?: string; at?: string })
        .catch(() => ({}) as { from?: string; reason?: string; at?: string });
      found.push({
        path: relative(dataDir, join(dir, name)),
        from: relative(dataDir, join(dirname(dir), note.from ?? name)),
        reason: note.reason ?? 'no note (it could not be written)',
        at: note.at ?? '',
      });
    }
  }
  return found.sort((a, b) => a.at.localeCompare(b.at));
}

/**
 * A lowdb adapter that writes the way {@link writeFileDurable} does. lowdb's own JSONFile renames
 * atomically but never fsyncs, so a power cut could take back a write it had reported done. A file
 * that is not JSON, or not of the shape `valid` accepts, is quarantined and read as absent: lowdb
 * then starts from its defaults, and `damaged` says why, for the owner to rebuild what it can.
 */
export class DurableJsonFile<T> {
  damaged: { reason: string; quarantinedAs: string } | undefined;

  constructor(
    private readonly path: string,
    private readonly valid: (value: unknown) => boolean = () => true,
  ) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      return this.quarantine(`could not be read: ${(error as Error).message}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return this.quarantine(`not JSON: ${(error as Error).message}`);
    }
    return this.valid(value) ? (value as T) : this.quarantine('not of the expected shape');
  }

  write(data: T): Promise<void> {
    return writeFileDurable(this.path, JSON.stringify(data, null, 2));
  }

  private async quarantine(reason: string): Promise<null> {
    this.damaged = { reason, quarantinedAs: await quarantineFile(this.path, reason) };
    return null;
  }
}
