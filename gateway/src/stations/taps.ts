import { EventBus } from '../events/index.js';
import { type Logger, maskCardId } from '../log/index.js';
import type { CardPresented } from '../readers/index.js';
import type { RecentTap, StationEvents, TapOutcome } from './types.js';

/** Above this many remembered taps, those older than the debounce are forgotten. */
const REMEMBERED = 4096;

/** The same card on the same reader again within `debounceMs` is one tap. */
export class TapDebounce {
  private readonly lastSeen = new Map<string, number>();

  constructor(private readonly debounceMs: number) {}

  /** Whether this card at this reader repeats a tap of less than `debounceMs` before `now`; notes it either way. */
  repeats(reader: string, card: CardPresented, now: number): boolean {
    const key = `${reader}\0${card.proof?.cardNumber ?? card.uid}`;
    const previous = this.lastSeen.get(key);
    this.lastSeen.set(key, now);
    if (previous !== undefined && now - previous < this.debounceMs) return true;
    if (this.lastSeen.size > REMEMBERED) {
      for (const [seen, at] of this.lastSeen) if (at < now - this.debounceMs) this.lastSeen.delete(seen);
    }
    return false;
  }
}

/** The last taps of a station, newest last, for `educard status`. */
export class RecentTaps<T> {
  private readonly taps: T[] = [];

  constructor(private readonly keep = 20) {}

  add(tap: T): void {
    this.taps.push(tap);
    if (this.taps.length > this.keep) this.taps.shift();
  }

  list(): T[] {
    return [...this.taps];
  }
}

/**
 * What every station does around its own decision: drops a repeat within the debounce, and once the
 * station has acted (and journaled, where it journals taps), keeps the tap among the recent ones,
 * logs it (the card masked) and tells the runtime on its event bus.
 */
export class StationTaps<T extends TapOutcome> {
  readonly events: EventBus<StationEvents<T>>;
  private readonly debounce: TapDebounce;
  private readonly recent = new RecentTaps<RecentTap>();

  constructor(
    debounceMs: number,
    private readonly logger: Logger,
  ) {
    this.events = new EventBus(logger);
    this.debounce = new TapDebounce(debounceMs);
  }

  repeats(reader: string, card: CardPresented, seenAt: number): boolean {
    return this.debounce.repeats(reader, card, seenAt);
  }

  /** The outcome of a tap seen at `seenAt`; `message` and `log` make its log line. */
  report(outcome: T, seenAt: number, message: string, log: Record<string, unknown> = {}): T {
    const { decision, record, reader, at, actedAt } = outcome;
    const card = maskCardId(decision.cardId);
    this.recent.add({
      at,
      card,
      ...(decision.card ? { personId: decision.card.personId } : {}),
      decision: decision.decision,
      reason: decision.reason,
      reader,
    });
    this.logger.info(
      {
        ...(record ? { seq: record.seq } : {}),
        card,
        reader,
        ...log,
        decision: decision.decision,
        reason: decision.reason,
        ...('flags' in decision ? { flags: decision.flags } : {}),
        decideMs: Number((actedAt - seenAt).toFixed(3)),
      },
      message,
    );
    this.events.emit('tap', outcome);
    return outcome;
  }

  list(): RecentTap[] {
    return this.recent.list();
  }
}
