import { addressKey } from './addresses.js';

/** One admitted connection: tell when it authenticated, and when it closed (both may be called again). */
export interface Admission {
  authenticated(): void;
  release(): void;
}

/** Why a connection was turned away. */
export type Refusal = 'total' | 'address' | 'pending';

export interface ConnectionCaps {
  maxConnections: number;
  maxPerAddress: number;
  /** Connections not yet authenticated; without it, a connection counts as authenticated at once. */
  maxPending?: number;
  /** Addresses not held to `maxPerAddress`: the reverse proxies that carry everyone's requests. */
  exempt?: (address: string | undefined) => boolean;
}

/**
 * Counts a listener's connections in all, per address and not yet authenticated, and turns away the
 * one that would go over a cap, before a byte of it is read.
 */
export class ConnectionLimits {
  private total = 0;
  private pending = 0;
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly caps: ConnectionCaps) {}

  get open(): number {
    return this.total;
  }

  /** An admission for a connection from `address`, or why there is none. */
  admit(address: string | undefined): Admission | Refusal {
    const { maxConnections, maxPerAddress, maxPending, exempt } = this.caps;
    if (this.total >= maxConnections) return 'total';
    const key = exempt?.(address) ? undefined : addressKey(address);
    const fromAddress = key === undefined ? 0 : (this.perAddress.get(key) ?? 0);
    if (key !== undefined && fromAddress >= maxPerAddress) return 'address';
    const counted = maxPending !== undefined;
    if (counted && this.pending >= maxPending) return 'pending';
    this.total += 1;
    if (key !== undefined) this.perAddress.set(key, fromAddress + 1);
    let pending = counted;
    if (pending) this.pending += 1;
    let released = false;
    return {
      authenticated: () => {
        if (!pending) return;
        pending = false;
        this.pending -= 1;
      },
      release: () => {
        if (released) return;
        released = true;
        if (pending) this.pending -= 1;
        pending = false;
        this.total -= 1;
        if (key === undefined) return;
        const left = (this.perAddress.get(key) ?? 1) - 1;
        if (left > 0) this.perAddress.set(key, left);
        else this.perAddress.delete(key);
      },
    };
  }
}
