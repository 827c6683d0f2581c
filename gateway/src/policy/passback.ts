import type { Direction } from '@educard/terminal-sdk';

interface Passage {
  direction: 'in' | 'out';
  at: number;
}

/** Who last went which way through each zone, for anti-passback. */
export class PassbackState {
  private readonly last = new Map<string, Passage>();

  private static key(personId: string, zone: string): string {
    return `${zone}\0${personId}`;
  }

  /** Whether passing `direction` now repeats the person's last passage within the window. */
  repeats(personId: string, zone: string, direction: Direction, now: number, windowMs: number): boolean {
    if (direction === 'none') return false;
    const last = this.last.get(PassbackState.key(personId, zone));
    return last !== undefined && last.direction === direction && now - last.at < windowMs;
  }

  record(personId: string, zone: string, direction: Direction, now: number): void {
    if (direction === 'none') return;
    this.last.set(PassbackState.key(personId, zone), { direction, at: now });
  }

  get size(): number {
    return this.last.size;
  }
}
