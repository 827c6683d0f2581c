import { addressKey } from '@educard/terminal-sdk/listeners';

interface Held {
  failures: number;
  /** When the window of these failures began. */
  since: number;
  lockedUntil?: number;
}

/** Addresses kept at most: past it, the entry seen longest ago goes first. */
const CAPACITY = 10_000;

/**
 * Failed sign-ins per source address (an IPv6 address by its /64), in memory: `attempts` failures
 * within `windowMs` lock the address for `windowMs`, whatever user names it tries. The per-name count
 * (in the database) stops guessing one account; this stops one host from guessing many.
 */
export class AddressThrottle {
  private readonly held = new Map<string, Held>();

  constructor(private readonly settings: { attempts: number; windowMs: number }) {}

  /** How long the address is still locked (ms), or 0. */
  lockedFor(address: string, nowMs: number): number {
    const held = this.held.get(addressKey(address));
    return held?.lockedUntil !== undefined && held.lockedUntil > nowMs ? held.lockedUntil - nowMs : 0;
  }

  /** Counts an attempt before its password is checked; true when this one locks the address. */
  attempt(address: string, nowMs: number): boolean {
    const key = addressKey(address);
    let held = this.held.get(key);
    if (!held || nowMs - held.since > this.settings.windowMs) held = { failures: 0, since: nowMs };
    held.failures += 1;
    const locks = held.failures >= this.settings.attempts && held.lockedUntil === undefined;
    if (locks) held.lockedUntil = nowMs + this.settings.windowMs;
    this.held.delete(key);
    this.held.set(key, held);
    if (this.held.size > CAPACITY) this.held.delete(this.held.keys().next().value as string);
    return locks;
  }

  /** The attempt's password was right: it was no failure. */
  succeeded(address: string): void {
    const held = this.held.get(addressKey(address));
    if (held && held.failures > 0) held.failures -= 1;
  }
}

/**
 * Password checks at most `concurrent` at once and `perSecond` a second, with `queued` waiting their
 * turn: an argon2 hash takes a core for ~30 ms, so a flood of sign-ins must not take the cores ingest
 * needs. `acquire` gives a release function, or undefined when the queue is full (the caller answers
 * "busy" at once).
 */
export class CheckGate {
  private running = 0;
  private nextStartMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiting: ((release: () => void) => void)[] = [];

  constructor(private readonly limits: { concurrent: number; perSecond: number; queued: number }) {}

  acquire(): Promise<(() => void) | undefined> {
    if (this.waiting.length === 0 && this.mayStart()) return Promise.resolve(this.start());
    if (this.waiting.length >= this.limits.queued) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.pump();
    });
  }

  private mayStart(): boolean {
    return this.running < this.limits.concurrent && Date.now() >= this.nextStartMs;
  }

  private start(): () => void {
    this.running += 1;
    this.nextStartMs = Date.now() + 1000 / this.limits.perSecond;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      this.pump();
    };
  }

  /** Starts whoever waits, as far as the limits allow; wakes up again when the rate allows the next. */
  private pump(): void {
    while (this.waiting.length > 0 && this.mayStart()) this.waiting.shift()?.(this.start());
    if (this.waiting.length === 0 || this.running >= this.limits.concurrent || this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.pump();
      },
      Math.max(0, this.nextStartMs - Date.now()),
    );
  }
}
