import { statfs } from 'node:fs/promises';
import type { Logger } from '../log/index.js';

const DISK_CHECK_MS = 5_000;

export interface DiskWatchOptions {
  dir: string;
  logger: Logger;
  /** The journal's share of the disk: low past 80% of it. */
  budgetBytes: number;
  /** Free space below which the disk is low whatever the journal holds. */
  minFreeBytes: number;
  /** The bytes the journal holds now. */
  usedBytes: () => number;
  /** The disk has just become low (the journal records it, while it is open). */
  onLow: (freeBytes: number, usedBytes: number) => void;
  /** Low became not low, or the other way. */
  onChange: () => void;
}

/** The journal's disk: its share of the budget and the free space, checked at most every few seconds. */
export class DiskWatch {
  low = false;
  /** Free space as last checked. */
  freeBytes: number | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: DiskWatchOptions) {}

  /** The next {@link check} looks again whenever it comes (a new segment, a failed write). */
  soon(): void {
    this.checkedAt = Number.NEGATIVE_INFINITY;
  }

  check(): void {
    const now = performance.now();
    if (now - this.checkedAt < DISK_CHECK_MS) return;
    this.checkedAt = now;
    const { dir, logger, budgetBytes, minFreeBytes } = this.options;
    statfs(dir)
      .then((fs) => {
        const freeBytes = fs.bavail * fs.bsize;
        this.freeBytes = freeBytes;
        const used = this.options.usedBytes();
        const low = used > 0.8 * budgetBytes || freeBytes < minFreeBytes;
        if (low && !this.low) this.options.onLow(freeBytes, used);
        const changed = low !== this.low;
        this.low = low;
        if (changed) this.options.onChange();
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'could not check free disk space'));
  }
}
