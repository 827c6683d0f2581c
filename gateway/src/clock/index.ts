import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Low } from 'lowdb';
import type { Logger } from '../log/index.js';
import { DurableJsonFile } from '../storage/index.js';

interface ClockState {
  /** The latest time this device has seen: the clock is never believed to be earlier. */
  timeFloor: number;
}

export interface ClockOptions {
  dataDir: string;
  logger: Logger;
  /** The wall clock; tests and the demo pass their own. */
  now?: () => number;
  /** Whether the system clock is disciplined by NTP; by default systemd-timesyncd's flag file. */
  synced?: () => boolean;
  /** How far the floor may run ahead of what is on disk: a power cut loses at most this much. */
  persistEveryMs?: number;
}

const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';
const SYNC_CHECK_MS = 30_000;

/**
 * The device's notion of time. A Raspberry Pi before model 5 has no real-time clock and may boot in
 * 1970 or at the last shutdown; a persisted floor lets the gateway tell a clock that went back.
 */
export class TrustedClock {
  private floorValue: number;
  private persistedFloor: number;
  private syncedValue = false;
  private syncCheckedAt = Number.NEGATIVE_INFINITY;
  private writing: Promise<void> | undefined;
  readonly now: () => number;
  private readonly probeSynced: () => boolean;
  private readonly persistEveryMs: number;

  private constructor(
    private readonly db: Low<ClockState>,
    private readonly logger: Logger,
    options: ClockOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.probeSynced = options.synced ?? (() => existsSync(TIMESYNC_FLAG));
    this.persistEveryMs = options.persistEveryMs ?? 60_000;
    this.floorValue = db.data.timeFloor;
    this.persistedFloor = db.data.timeFloor;
  }

  /** Why the persisted floor was lost, when clock.json was damaged (it is then kept in quarantine). */
  damaged: string | undefined;

  static async open(options: ClockOptions): Promise<TrustedClock> {
    const file = new DurableJsonFile<ClockState>(join(options.dataDir, 'clock.json'), (value) =>
      Number.isFinite((value as Partial<ClockState> | null)?.timeFloor),
    );
    const db = new Low<ClockState>(file, { timeFloor: 0 });
    await db.read();
    const clock = new TrustedClock(db, options.logger, options);
    if (file.damaged) {
      clock.damaged = file.damaged.reason;
      options.logger.error(
        { reason: file.damaged.reason, quarantinedAs: file.damaged.quarantinedAs },
        'clock.json was damaged: the time floor is rebuilt from the journal',
      );
    }
    const now = clock.now();
    if (now < clock.floor) {
      options.logger.warn(
        { now: new Date(now).toISOString(), floor: new Date(clock.floor).toISOString() },
        'system clock is behind the time floor: it went back, or the device has no real-time clock',
      );
    }
    return clock;
  }

  get floor(): number {
    return this.floorValue;
  }

  /**
   * Raises the floor to a time the device is known to have seen (its newest journal record) and
   * writes it: how a damaged clock.json is rebuilt.
   */
  async restoreFloor(seen: number): Promise<void> {
    if (seen <= this.floorValue) return;
    this.floorValue = seen;
    await this.persist().catch((error: unknown) =>
      this.logger.error({ err: error }, 'could not persist the rebuilt time floor'),
    );
  }

  /** Reads the clock: trusted unless it is before the floor. A trusted reading raises the floor. */
  read(): { now: number; trusted: boolean } {
    const now = this.now();
    if (now < this.floorValue) return { now, trusted: false };
    this.floorValue = now;
    if (now - this.persistedFloor >= this.persistEveryMs) this.persistSoon();
    return { now, trusted: true };
  }

  /** Whether NTP has set the clock, checked at most every 30 s (a file test, but not on every tap). */
  synced(): boolean {
    const now = performance.now();
    if (now - this.syncCheckedAt >= SYNC_CHECK_MS) {
      this.syncedValue = this.probeSynced();
      this.syncCheckedAt = now;
    }
    return this.syncedValue;
  }

  /** How an event stamped with this reading is marked: synced only when trusted and NTP-disciplined. */
  stamp(reading: { trusted: boolean }): 'synced' | 'unsynced' {
    return reading.trusted && this.synced() ? 'synced' : 'unsynced';
  }

  /** Writes the floor now; called on shutdown. */
  async persist(): Promise<void> {
    await this.writing;
    if (this.floorValue === this.persistedFloor) return;
    this.db.data.timeFloor = this.floorValue;
    const floor = this.floorValue;
    await this.db.write();
    this.persistedFloor = floor;
  }

  private persistSoon(): void {
    if (this.writing) return;
    this.writing = this.persist()
      .catch((error: unknown) => this.logger.error({ err: error }, 'could not persist the time floor'))
      .finally(() => {
        this.writing = undefined;
      });
  }
}
