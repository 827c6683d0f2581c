import { addressKey } from '@educard/terminal-sdk/listeners';
import type { AccountTables } from './store.js';

/** Locked addresses this instance knows of, kept at most: past it, the one learnt longest ago goes first. */
const CAPACITY = 10_000;

/** What the throttle keeps in the accounts' tables. */
type AddressTables = Pick<AccountTables, 'addressLockedUntil' | 'addressFailure' | 'addressSucceeded'>;

/** Whose locks a check believes: this instance's (no query), or every instance's (in the database). */
export type LocksSeenBy = 'this-instance' | 'every-instance';

/**
 * Failed sign-ins per source address (an IPv6 address by its /64): `attempts` failures within
 * `windowMs` lock the address for `windowMs`, whatever user names it tries. The per-name count stops
 * guessing one account; this stops one host from guessing many. Both are in the database, shared by
 * the instances on one store. Each instance also remembers the locks it has seen, so that a flood
 * from a locked address is turned away without a query (`lockedFor(…, 'this-instance')`).
 */
export class AddressThrottle {
  private readonly locks = new Map<string, number>();

  constructor(
    private readonly tables: AddressTables,
    private readonly settings: { attempts: number; windowMs: number },
  ) {}

  /**
   * How long the address is still locked (ms), or 0: by the locks this instance has seen, or by those
   * of every instance (a query).
   */
  lockedFor(address: string, nowMs: number, seenBy: LocksSeenBy): number {
    const key = addressKey(address);
    if (seenBy === 'every-instance') {
      const until = this.tables.addressLockedUntil(key);
      if (until !== undefined && until > nowMs) this.remember(key, until);
    }
    const until = this.locks.get(key);
    if (until === undefined) return 0;
    if (until > nowMs) return until - nowMs;
    this.locks.delete(key);
    return 0;
  }

  /** Counts an attempt before its password is checked; true when this one locks the address. */
  attempt(address: string, nowMs: number): boolean {
    const key = addressKey(address);
    const lockUntil = nowMs + this.settings.windowMs;
    const locked = this.tables.addressFailure(key, nowMs, {
      start: nowMs - this.settings.windowMs,
      attempts: this.settings.attempts,
      lockUntil,
    });
    if (locked) this.remember(key, lockUntil);
    return locked;
  }

  /** The attempt's password was right: it was no failure. */
  succeeded(address: string): void {
    this.tables.addressSucceeded(addressKey(address));
  }

  private remember(key: string, until: number): void {
    this.locks.delete(key);
    this.locks.set(key, until);
    if (this.locks.size > CAPACITY) this.locks.delete(this.locks.keys().next().value as string);
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
