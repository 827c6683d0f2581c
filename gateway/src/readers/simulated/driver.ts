import { EventBus } from '../../events/index.js';
import type { Logger } from '../../log/index.js';
import type { ReaderDriver, ReaderEvents, ReaderStatus } from '../types.js';
import { presentSimulated, type SimulatedCard } from './card.js';

/**
 * Readers that exist only in memory, driven by the test harness, a script file or standard input
 * (see ./script.ts). They go through the same events as a real driver, hot-plug included.
 */
export class SimulatedReaderDriver implements ReaderDriver {
  readonly events: EventBus<ReaderEvents>;
  private readonly state = new Map<string, ReaderStatus>();
  private started = false;

  constructor(
    private readonly names: string[],
    logger: Logger,
  ) {
    this.events = new EventBus(logger);
  }

  async start(): Promise<void> {
    this.started = true;
    for (const name of this.names) this.plug(name);
  }

  async stop(): Promise<void> {
    for (const name of [...this.state.keys()]) this.unplug(name);
    this.started = false;
  }

  readers(): ReaderStatus[] {
    return [...this.state.values()].map((status) => ({ ...status }));
  }

  plug(name: string): void {
    if (this.state.has(name)) return;
    this.state.set(name, { name, connected: true, cardPresent: false });
    this.events.emit('reader-added', { reader: name });
  }

  unplug(name: string): void {
    if (!this.state.delete(name)) return;
    this.events.emit('reader-removed', { reader: name });
  }

  /** A card held to a reader; a card already there is taken away first, as a hand would. */
  present(reader: string, card: SimulatedCard): void {
    const status = this.reader(reader);
    if (status.cardPresent) this.remove(reader);
    status.cardPresent = true;
    this.events.emit('card', presentSimulated(reader, card, performance.now()));
  }

  /** A book's tag held to a reader: reported as an item (its id, the tag's UID), never as a card. */
  presentTag(reader: string, itemId: string): void {
    this.reader(reader);
    this.events.emit('item', { reader, itemId, detectedAt: performance.now() });
  }

  remove(reader: string): void {
    const status = this.reader(reader);
    if (!status.cardPresent) return;
    status.cardPresent = false;
    this.events.emit('card-removed', { reader });
  }

  private reader(name: string): ReaderStatus {
    const status = this.state.get(name);
    if (!this.started || !status) throw new Error(`no simulated reader named "${name}" is plugged in`);
    return status;
  }
}
