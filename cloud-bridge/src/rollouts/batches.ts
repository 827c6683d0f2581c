import type { Logger } from 'pino';

/**
 * Items gathered for `everyMs` and handed over together: a thousand devices report several times
 * each during a rollout, and a write of its own for each report would be most of the bridge's work.
 * `flush()` hands over what is waiting at once (on stop: nothing received is lost).
 */
export class Batches<T> {
  private readonly waiting: T[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly apply: (batch: T[]) => void,
    private readonly logger: Logger,
    private readonly everyMs = 100,
  ) {}

  push(item: T): void {
    this.waiting.push(item);
    this.timer ??= setTimeout(() => this.flush(), this.everyMs);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0);
    if (!batch.length) return;
    try {
      this.apply(batch);
    } catch (error) {
      this.logger.error({ err: error, items: batch.length }, 'a batch was not applied');
    }
  }
}
