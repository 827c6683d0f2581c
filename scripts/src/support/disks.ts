import { execFile } from 'node:child_process';
import { mkdir, open, rm, statfs, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A small file system of a test's or a benchmark's own, mounted as root (they run as root: see README). */
export interface Mounted {
  path: string;
  /** Unmounts it; call once every file in it is closed (the processes that used it have exited). */
  unmount(): Promise<void>;
}

async function mount(args: string[], path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  try {
    await run('mount', [...args, path]);
  } catch (error) {
    throw new Error(
      `could not mount a test file system at ${path} (${(error as Error).message.trim()}): these tests mount one as root`,
    );
  }
}

/** A tmpfs of `bytes`: a disk that fills up. */
export async function mountTmpfs(dir: string, bytes: number): Promise<Mounted> {
  const path = join(dir, 'disk');
  await mount(['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs'], path);
  return { path, unmount: () => unmount(path) };
}

/**
 * A btrfs file system on a loop device: btrfs checksums every data block, so a byte flipped on the
 * device under a file makes reads of that file fail with EIO, as a rotten SD card block does.
 */
export async function mountBtrfs(dir: string): Promise<Mounted & { rot(needle: string): Promise<void> }> {
  const image = join(dir, 'disk.img');
  const path = join(dir, 'disk');
  await open(image, 'w').then((handle) => handle.close());
  await truncate(image, 32 * 1024 * 1024);
  await run('mkfs.btrfs', ['-q', '--mixed', image]).catch((error: Error) => {
    throw new Error(`mkfs.btrfs failed (${error.message.trim()}): apt-get install btrfs-progs`);
  });
  await mount(['-o', 'loop', image], path);
  return {
    path,
    unmount: async () => {
      await unmount(path);
      await rm(image, { force: true });
    },
    /**
     * Flips a byte of every block on the device that holds `needle`, under the file system, while it
     * is unmounted (copy-on-write leaves earlier copies of a block that was appended to in free space:
     * flipping those too is harmless).
     */
    async rot(needle: string) {
      await unmount(path);
      const handle = await open(image, 'r+');
      try {
        const bytes = Buffer.alloc((await handle.stat()).size);
        await handle.read(bytes, 0, bytes.length, 0);
        let at = bytes.indexOf(needle);
        if (at < 0) throw new Error(`"${needle}" is not on the device`);
        for (; at >= 0; at = bytes.indexOf(needle, at + 1)) {
          await handle.write(Buffer.from([(bytes[at + 1] as number) ^ 0x20]), 0, 1, at + 1);
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await mount(['-o', 'loop', image], path);
    },
  };
}

async function unmount(path: string): Promise<void> {
  await run('umount', [path]);
}

/**
 * Fills a file system to its last byte with one file, `name` in `dir`, or tops it up when the file is
 * there already; removing it frees the space. The file is appended to, never written afresh: removed
 * first, the disk would have room for a moment, and a process writing beside it (the gateway under
 * test) would take it.
 */
export async function fillDisk(dir: string, name = 'filler'): Promise<string> {
  const path = join(dir, name);
  const handle = await open(path, 'a');
  try {
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    // Until the file system refuses a byte (what others free meanwhile is taken too), and never more
    // than its whole size.
    const { blocks, bsize } = await statfs(dir);
    for (let bound = blocks * bsize; bound > 0; ) {
      const { bytesWritten } = await handle.write(chunk).catch(() => ({ bytesWritten: 0 }));
      if (bytesWritten === 0) break;
      bound -= bytesWritten;
    }
  } finally {
    await handle.close();
  }
  return path;
}
