import { writeFileDurable } from '../storage/index.js';
import { type Unsaved, unsavedPath } from './recovery.js';

// What close() does with records the disk would not take: it waits a bounded time, then writes their
// count where the next start finds it (recovery journals the loss), or prints it when even that fails.

/** Whether `work` settled before the deadline (a `performance.now()` time). */
export async function withDeadline(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes what could not be made durable for the next start; printed when even that cannot be written. */
export async function saveUnsaved(dir: string, unsaved: Unsaved, deadline: number): Promise<void> {
  const written = await withDeadline(
    writeFileDurable(unsavedPath(dir), JSON.stringify(unsaved)),
    Math.max(deadline, performance.now() + 500),
  ).catch(() => false);
  if (!written) {
    process.stderr.write(
      `educard journal: ${unsaved.records} record(s) (${unsaved.firstSeq} to ${unsaved.lastSeq}) could not be made durable at stop, and the count could not be written: ${JSON.stringify(unsaved)}\n`,
    );
  }
}
