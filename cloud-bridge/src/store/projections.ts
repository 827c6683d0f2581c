import type { EventData, EventRecord, EventType } from '@educard/terminal-sdk';

/**
 * One record as `commitRecords` stored it, handed to the projections in the same transaction. Its
 * data matches its type's schema when the type is a known one.
 */
export interface CommittedEvent {
  eventId: number;
  device: string;
  school: string;
  /** The record's time in UTC, as stored. */
  at: string;
  record: EventRecord;
}

/**
 * A committed record's data, typed by its type's schema, when the record is of that type. Projections
 * (but for those with `everyRecord`) are handed only records whose data passed that schema.
 */
export function committedData<T extends EventType>(event: CommittedEvent, type: T): EventData<T> | undefined {
  return event.record.type === type ? (event.record.data as EventData<T>) : undefined;
}

/**
 * A table kept in step with the events, written in the transaction that stores them (an outbox, a
 * projection, the loan ledger): it sees each record exactly once, and a crash leaves neither without
 * the other. It is handed the records it can interpret, or with `everyRecord` (an outbox that
 * forwards them) all.
 */
export type CommitProjection = (events: CommittedEvent[]) => void;

export interface ProjectionOptions {
  everyRecord?: boolean;
}

/** The projections a store runs inside each commit, in the order they registered. */
export class Projections {
  private readonly registered: { project: CommitProjection; everyRecord: boolean }[] = [];

  add(project: CommitProjection, options: ProjectionOptions = {}): void {
    this.registered.push({ project, everyRecord: options.everyRecord ?? false });
  }

  run(stored: CommittedEvent[], interpreted: CommittedEvent[]): void {
    for (const { project, everyRecord } of this.registered) {
      const events = everyRecord ? stored : interpreted;
      if (events.length) project(events);
    }
  }
}
