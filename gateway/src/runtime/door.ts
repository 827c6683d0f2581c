import type { EventBody, EventRecord } from '@educard/terminal-sdk';
import type { StationConfig } from '../config/index.js';
import { type GateActuators, IO_TEST_PARTS, type IoTestPart } from '../io/index.js';
import type { BridgeLockdown, BridgeLockdownState } from '../lockdown/index.js';
import type { Logger } from '../log/index.js';

type RecordEvent = (event: Omit<EventBody, 'at' | 'clock'>) => EventRecord;

/**
 * The door's IO as the runtime drives it beside the station: its sensors' alarms journaled, the
 * door opened on a command or a technician's self-test, each opening journaled; and the gate's
 * lockdown, by its switch or by the bridge's order, each change journaled.
 */
export class DoorIo {
  constructor(
    private readonly io: GateActuators,
    private readonly station: StationConfig,
    private readonly record: RecordEvent,
    private readonly logger: Logger,
    private readonly lockdown: BridgeLockdown,
  ) {
    const { id, zone } = station;
    io.events.on('door-forced', () =>
      record({ type: 'door.forced', data: { station: id, zone, openForMs: 0 } }),
    );
    io.events.on('door-held-open', ({ openForMs }) =>
      record({ type: 'door.held-open', data: { station: id, zone, openForMs } }),
    );
    io.events.on('exit-request', () => record({ type: 'door.exit-request', data: { station: id, zone } }));
    io.events.on('emergency-release', () =>
      record({ type: 'door.emergency-release', data: { station: id, zone } }),
    );
    io.events.on('emergency-restored', ({ releasedForMs }) =>
      record({ type: 'door.emergency-restored', data: { station: id, zone, releasedForMs } }),
    );
    io.events.on('lockdown', () => record({ type: 'gate.lockdown', data: { station: id, zone } }));
    io.events.on('lockdown-lifted', ({ lockedForMs }) =>
      record({ type: 'gate.lockdown-lifted', data: { station: id, zone, lockedForMs } }),
    );
  }

  /** Whether entries are refused: the lockdown switch is on, or the bridge ordered the school's lockdown. */
  lockedDown(): boolean {
    return this.io.lockedDown() || this.lockdown.active;
  }

  get bridgeLockdown(): BridgeLockdownState {
    return this.lockdown.state;
  }

  /**
   * The bridge's `lockdown.set` for the school: kept on disk, then in force; journaled when it turns
   * the lockdown on or off. Only a gate takes it: another station has no entries to refuse.
   */
  async setLockdown(
    order: { active: boolean; version: number; reason?: string | undefined },
    now: Date,
  ): Promise<BridgeLockdownState> {
    if (this.station.type !== 'gate') return this.lockdown.state;
    const before = await this.lockdown.apply(order, now);
    const after = this.lockdown.state;
    if (before) {
      const { id, zone } = this.station;
      const source = { source: 'bridge' as const, version: after.version };
      if (after.active) {
        this.logger.warn(
          { version: after.version, reason: after.reason },
          'lockdown ordered by the bridge: entries refused',
        );
        this.io.alarm();
        this.record({
          type: 'gate.lockdown',
          data: { station: id, zone, ...source, ...(after.reason ? { reason: after.reason } : {}) },
        });
      } else {
        const lockedForMs = Math.max(0, now.getTime() - Date.parse(before.since ?? now.toISOString()));
        this.logger.info({ version: after.version, lockedForMs }, 'lockdown lifted by the bridge');
        this.record({ type: 'gate.lockdown-lifted', data: { station: id, zone, ...source, lockedForMs } });
      }
    }
    return after;
  }

  /** Opens the door for `seconds` on a command (`command`: its id, or what a technician ran). */
  open(seconds: number, command: string): void {
    this.io.grant(seconds * 1000);
    this.journalOpening(seconds, command);
  }

  /** Pulses the relay, lights the LEDs and sounds the buzzer on a technician's request; journaled when the door opens. */
  selfTest(requested: unknown): IoTestPart[] {
    const parts = Array.isArray(requested) && requested.length > 0 ? requested : [...IO_TEST_PARTS];
    const unknown = parts.filter((part) => !(IO_TEST_PARTS as readonly unknown[]).includes(part));
    if (unknown.length > 0)
      throw new Error(`unknown IO part(s): ${unknown.join(', ')}; choose from ${IO_TEST_PARTS.join(', ')}`);
    const done = this.io.selfTest(parts as IoTestPart[]);
    if (done.includes('relay')) this.journalOpening(1, 'educard test-io');
    this.logger.info({ parts: done }, 'IO self-test');
    return done;
  }

  private journalOpening(seconds: number, command: string): void {
    const { id, zone } = this.station;
    this.record({ type: 'door.remote-open', data: { station: id, zone, seconds, command } });
  }
}
