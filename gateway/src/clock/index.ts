import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClockStamp } from '@educard/terminal-sdk';
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
  /**
   * The real-time clock's sysfs directory (/dev/rtc0's is /sys/class/rtc/rtc0: Node cannot issue
   * the RTC_RD_TIME ioctl, sysfs reads the same clock), or false for none.
   */
  rtc?: string | false;
}

/** What the real-time clock says, and whether the gateway believes it. */
export interface RtcState {
  path: string;
  present: boolean;
  /** Present and reporting a time after the floor that agrees with the system clock. */
  valid: boolean;
  /** The RTC's reading, when it gave one. */
  time?: string;
  /** Whether the kernel set the system clock from it at boot (its hctosys flag). */
  setSystemClock?: boolean;
  /** Why it is not valid. */
  reason?: string;
}

export const DEFAULT_RTC = '/sys/class/rtc/rtc0';
const TIMESYNC_FLAG = '/run/systemd/timesync/synchronized';
const SYNC_CHECK_MS = 30_000;
/** No valid clock of this firmware reads earlier: an RTC that lost its battery restarts at 1970 or 2000. */
const EARLIEST_VALID_MS = Date.parse('2025-01-01T00:00:00Z');
/**
 * How far the system clock may be from the RTC for the RTC to vouch for it: the two drift apart by a
 * few seconds a day without NTP, and a clock set wrong by hand is off by far more.
 */
const RTC_AGREEMENT_MS = 120_000;

/** Reads an RTC's sysfs directory: its time (since_epoch, whole seconds) and its hctosys flag. */
export function readRtc(path: string, now: number, floor: number): RtcState {
  let seconds: number;
  try {
    seconds = Number(readFileSync(join(path, 'since_epoch'), 'utf8').trim());
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // The driver refuses to read a clock that lost its time (EINVAL), e.g. a flat battery.
    return code === 'ENOENT'
      ? { path, present: false, valid: false, reason: 'no real-time clock' }
      : { path, present: true, valid: false, reason: `it gives no time (${code}): its battery may be flat` };
  }
  let setSystemClock: boolean | undefined;
  try {
    setSystemClock = readFileSync(join(path, 'hctosys'), 'utf8').trim() === '1';
  } catch {}
  const rtc = seconds * 1000;
  const state = {
    path,
    present: true,
    ...(Number.isFinite(rtc) ? { time: new Date(rtc).toISOString() } : {}),
    ...(setSystemClock === undefined ? {} : { setSystemClock }),
  };
  const reason = !Number.isFinite(rtc)
    ? 'it gives no time'
    : rtc < EARLIEST_VALID_MS
      ? 'it reads a time before this firmware was made: it lost its time (fit or change its battery)'
      : rtc < floor - RTC_AGREEMENT_MS
        ? 'it reads a time before one this device has already seen'
        : Math.abs(now - rtc) > RTC_AGREEMENT_MS
          ? `the system clock is ${Math.round((now - rtc) / 1000)} s from it`
          : undefined;
  return reason ? { ...state, valid: false, reason } : { ...state, valid: true };
}

/**
 * The device's notion of time. A Raspberry Pi before model 5 has no real-time clock and may boot in
 * 1970 or at the last shutdown; a persisted floor lets the gateway tell a clock that went back. Where
 * a real-time clock keeps valid time (a Pi 5 with its battery, an RTC HAT), the kernel sets the clock
 * from it at boot, and events are trusted from it before NTP answers.
 */
export class TrustedClock {
  private floorValue: number;
  private persistedFloor: number;
  private syncedValue = false;
  private syncCheckedAt = Number.NEGATIVE_INFINITY;
  private rtcValue: RtcState | undefined;
  private rtcCheckedAt = Number.NEGATIVE_INFINITY;
  private readonly rtcPath: string | false;
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
    this.rtcPath = options.rtc ?? DEFAULT_RTC;
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
    const rtc = clock.rtc();
    if (rtc?.valid && !clock.synced()) {
      options.logger.info(
        { rtc: rtc.path, time: rtc.time },
        'clock trusted from the real-time clock until NTP answers',
      );
    } else if (rtc?.present && !rtc.valid) {
      options.logger.warn({ rtc: rtc.path, reason: rtc.reason }, 'the real-time clock is not believed');
    }
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

  /** The real-time clock's state, read at most every 30 s; undefined when none is configured. */
  rtc(): RtcState | undefined {
    if (this.rtcPath === false) return undefined;
    const now = performance.now();
    if (!this.rtcValue || now - this.rtcCheckedAt >= SYNC_CHECK_MS) {
      this.rtcValue = readRtc(this.rtcPath, this.now(), this.floorValue);
      this.rtcCheckedAt = now;
    }
    return this.rtcValue;
  }

  /** What set the time an event can trust: NTP, else a valid real-time clock, else nothing. */
  source(): 'ntp' | 'rtc' | 'none' {
    if (this.synced()) return 'ntp';
    return this.rtc()?.valid ? 'rtc' : 'none';
  }

  /**
   * How an event stamped with this reading is marked: synced when the reading is trusted and NTP
   * disciplines the clock, or a real-time clock vouches for it (marked `clockSource: 'rtc'`).
   */
  stamp(reading: { trusted: boolean }): ClockStamp {
    if (!reading.trusted) return { clock: 'unsynced' };
    const source = this.source();
    if (source === 'ntp') return { clock: 'synced' };
    return source === 'rtc' ? { clock: 'synced', clockSource: 'rtc' } : { clock: 'unsynced' };
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
