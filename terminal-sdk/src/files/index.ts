import {
  closeSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Bytes, text, or chunks (a large export written as it is made). */
export type FileData = string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface FileToWrite {
  path: string;
  data: FileData;
  /** Set exactly, whatever the umask. */
  mode: number;
  /** The mode of parent directories made for it (0755 unless given). */
  dirMode?: number;
}

/** fsync a directory so that a rename in it survives a power cut. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

let tempCounter = 0;
const tempPath = (path: string) => {
  tempCounter += 1;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${tempCounter}.tmp`);
};

async function writeTemp(file: FileToWrite): Promise<string> {
  const temp = tempPath(file.path);
  const handle = await open(temp, 'wx', file.mode);
  try {
    await handle.chmod(file.mode);
    if (typeof file.data === 'string' || file.data instanceof Uint8Array) await handle.writeFile(file.data);
    else for await (const chunk of file.data) await handle.write(chunk);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}

/**
 * Writes several files so that a failure leaves none of them changed: each is first written in full to
 * a temporary file beside it and fsynced; only when all are on disk are they renamed over, and their
 * directories fsynced. Parent directories missing are made and, on a failure, removed.
 */
export async function writeFilesDurable(files: FileToWrite[]): Promise<void> {
  const madeDirs: string[] = [];
  const temps: string[] = [];
  try {
    for (const file of files) {
      const made = await mkdir(dirname(file.path), { recursive: true, mode: file.dirMode ?? 0o755 });
      if (made) madeDirs.push(made);
      temps.push(await writeTemp(file));
    }
  } catch (error) {
    await Promise.all(temps.map((temp) => rm(temp, { force: true })));
    for (const dir of madeDirs.reverse()) await rm(dir, { recursive: true, force: true });
    throw error;
  }
  for (const [index, file] of files.entries()) await rename(temps[index] as string, file.path);
  for (const dir of new Set(files.map((file) => dirname(file.path)))) await fsyncDirectory(dir);
}

/** Replaces one file: after a power cut it holds either the old bytes or the new ones, never a mix. */
export function writeFileDurable(path: string, data: FileData, mode = 0o644): Promise<void> {
  return writeFilesDurable([{ path, data, mode }]);
}

/**
 * writeFileDurable for code that may not wait (inside a synchronous database transaction that holds a
 * lock): the same temporary file beside it, fsync, rename and directory fsync.
 */
export function writeFileDurableSync(path: string, data: string | Uint8Array, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const temp = tempPath(path);
  const fd = openSync(temp, 'wx', mode);
  try {
    fchmodSync(fd, mode);
    writeFileSync(fd, data);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(temp, path);
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}
