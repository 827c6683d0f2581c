import type { EventRecord } from '@educard/terminal-sdk';
import type { BridgeStore, CommitResult, DeclaredLoss } from '../store/index.js';

interface Pending {
  device: string;
  school: string;
  records: EventRecord[];
  loss: DeclaredLoss | undefined;
  resolve(result: CommitResult): void;
  reject(error: unknown): void;
}

/**
 * Commits the batches of many devices that reach the store in one turn of the event loop (one read
 * off the broker's socket holds many) in one transaction: one fsync on SQLite, one commit round on
 * PostgreSQL, instead of one per batch. Each batch is its own savepoint inside it, so one that fails
 * fails alone; none is acknowledged before the whole transaction is durable. Batches are committed
 * in device order, whatever order they came in.
 */
export class GroupCommit {
  private pending: Pending[] = [];

  constructor(private readonly store: BridgeStore) {}

  commit(device: string, school: string, records: EventRecord[], loss?: DeclaredLoss): Promise<CommitResult> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => this.flush());
      this.pending.push({ device, school, records, loss, resolve, reject });
    });
  }

  private flush(): void {
    // In device order: on PostgreSQL each batch takes its device's advisory lock until the end of the
    // transaction, and two instances whose groups lock the same devices in different orders deadlock
    // (both groups lost, seen in the scale bench while a partition moved). One order for every
    // instance cannot. Stable, so one device's batches keep their order.
    const group = this.pending.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    this.pending = [];
    const outcomes: ({ ok: true; result: CommitResult } | { ok: false; error: unknown })[] = [];
    try {
      this.store.database.transaction(() => {
        for (const { device, school, records, loss } of group) {
          try {
            const result = this.store.commitRecords(device, school, records, loss ? { loss } : undefined);
            outcomes.push({ ok: true, result });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      })();
    } catch (error) {
      // The transaction itself did not commit: nothing of the group is stored.
      for (const { reject } of group) reject(error);
      return;
    }
    group.forEach((pending, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) pending.resolve(outcome.result);
      else pending.reject(outcome?.error);
    });
  }
}
