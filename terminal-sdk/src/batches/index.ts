/** Where a batch that could not be applied is told. */
export interface BatchesLogger {
  error(details: object, message: string): void;
}

export interface BatchesOptions {
  /** How long the first item waits for others. */
  everyMs: number;
  /** Handed over at once when this many wait. */
  maxBatch?: number;
  /** The log line when a batch is not applied (its items are dropped with it). */
  failure: string;
}

/**
 * Items gathered for `everyMs` (or until `maxBatch` wait) and handed over together: a write of its
 * own for each (a device's progress report, a read's audit entry) would be most of the work. The
 * timer does not hold the process; `flush()` hands over what waits at once (on stop: nothing
 * received is lost).
 */
export class Batches<T> {
  private waiting: T[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly apply: (batch: T[]) => void,
    private readonly logger: BatchesLogger,
    private readonly options: BatchesOptions,
  ) {}

  push(item: T): void {
    this.waiting.push(item);
    if (this.waiting.length >= (this.options.maxBatch ?? Number.POSITIVE_INFINITY)) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.options.everyMs);
      this.timer.unref();
    }
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting;
    if (batch.length === 0) return;
    this.waiting = [];
    try {
      this.apply(batch);
    } catch (error) {
      this.logger.error({ err: error, items: batch.length }, this.options.failure);
    }
  }
}
