/** A record appended but not yet durable, as it will be written. */
export interface Held {
  frame: Buffer;
  seq: number;
  /** The hash the record names as the one before it: where the chain resumes if those before are lost. */
  prev: string;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * The records appended and not yet durable, oldest first, and who waits for each to be durable. The
 * first `writing` of them are in the write under way; the journal bounds them while the disk takes no
 * writes by dropping the oldest, which are counted as `lost` unless a write under way saves them.
 */
export class HeldRecords {
  private queue: Held[] = [];
  private waiters: Waiter[] = [];
  /** How many at the front the write under way takes. */
  writing = 0;
  /** Records of the write under way dropped from the queue meanwhile: lost only if that write fails. */
  private writingDropped = 0;
  lost = 0;

  get length(): number {
    return this.queue.length;
  }

  get records(): readonly Held[] {
    return this.queue;
  }

  push(held: Held): void {
    this.queue.push(held);
  }

  /** Resolves once `seq` is durable (see {@link settle}); rejects when its write fails or it is dropped. */
  waitFor(seq: number): Promise<void> {
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /** The write under way is durable: its records leave, and those dropped meanwhile were not lost. */
  written(): void {
    this.queue.splice(0, this.writing);
    this.lost -= this.writingDropped;
    this.writing = 0;
    this.writingDropped = 0;
  }

  /** The write under way failed: every waiter is told (and may wait again); the records stay held. */
  writeFailed(error: Error): void {
    this.writing = 0;
    this.writingDropped = 0;
    const failed = this.waiters;
    this.waiters = [];
    for (const waiter of failed) waiter.reject(error);
  }

  /** Drops the oldest record, counted as lost; whoever waits for it is told. */
  dropOldest(): Held {
    const dropped = this.queue.shift() as Held;
    if (this.writing > 0) {
      this.writing -= 1;
      this.writingDropped += 1;
    }
    this.lost += 1;
    const gone = this.waiters.filter((w) => w.seq === dropped.seq);
    this.waiters = this.waiters.filter((w) => w.seq !== dropped.seq);
    for (const waiter of gone)
      waiter.reject(new Error(`record ${dropped.seq} was dropped: the disk is full`));
    return dropped;
  }

  /** Everything through `seq` is durable. */
  settle(through: number): void {
    const done = this.waiters.filter((w) => w.seq <= through);
    this.waiters = this.waiters.filter((w) => w.seq > through);
    for (const waiter of done) waiter.resolve();
  }
}
