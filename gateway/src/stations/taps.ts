import type { CardPresented } from '../readers/index.js';

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
