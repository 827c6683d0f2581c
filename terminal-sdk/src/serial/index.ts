/**
 * Runs tasks one after another: each starts once every task queued before it has settled. A task's
 * failure is its caller's and does not stop the ones after it. How a store keeps its files and its
 * state in step when updates arrive from the broker, a timer and a technician at once.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Settles once every task queued so far has. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
