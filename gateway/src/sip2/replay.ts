import type { ReplayOutcome } from '../stations/library/backend.js';
import { DurableJsonFile } from '../storage/index.js';

type Entry = { state: 'sending'; since: string } | { state: 'done'; outcome: ReplayOutcome };

interface CursorFile {
  v: 1;
  entries: Record<string, Entry>;
}

/**
 * Which offline transactions have been sent to the library system, kept durably (fsync'd before a
 * request goes out and after its answer): `sending` is written before a request, `done` with the
 * outcome after its answer. A transaction left at `sending` by a crash or a lost connection is in
 * doubt: the replay looks it up in the system before sending it again.
 */
export class ReplayCursor {
  private readonly file: DurableJsonFile<CursorFile>;
  private entries: Record<string, Entry> = {};
  private loaded = false;

  constructor(path: string) {
    this.file = new DurableJsonFile<CursorFile>(path);
  }

  async load(): Promise<void> {
    if (this.loaded) return;
    const data = await this.file.read();
    this.entries = data?.v === 1 && data.entries ? data.entries : {};
    this.loaded = true;
  }

  outcome(id: string): ReplayOutcome | undefined {
    const entry = this.entries[id];
    return entry?.state === 'done' ? entry.outcome : undefined;
  }

  inDoubt(id: string): boolean {
    return this.entries[id]?.state === 'sending';
  }

  async sending(id: string): Promise<void> {
    this.entries[id] = { state: 'sending', since: new Date().toISOString() };
    await this.save();
  }

  async done(outcome: ReplayOutcome): Promise<void> {
    this.entries[outcome.id] = { state: 'done', outcome };
    await this.save();
  }

  /** Forgets transactions the station no longer asks about: it has settled them. */
  async keepOnly(ids: ReadonlySet<string>): Promise<void> {
    const stale = Object.keys(this.entries).filter((id) => !ids.has(id));
    if (stale.length === 0) return;
    for (const id of stale) delete this.entries[id];
    await this.save();
  }

  private save(): Promise<void> {
    return this.file.write({ v: 1, entries: this.entries });
  }
}
