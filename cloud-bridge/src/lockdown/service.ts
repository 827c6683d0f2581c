import type { Command } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import type { TurnedAwayPerson } from '../attendance/index.js';
import type { CommandOrder } from '../commands/index.js';
import { schoolGates } from '../devices/index.js';
import { ALARM_KINDS } from '../ops/index.js';
import {
  type BridgeStore,
  type CommittedEvent,
  committedData,
  type ModuleSteps,
  migrateModule,
} from '../store/index.js';
import type { GateLockdown, LockdownView, SchoolLockdown } from './types.js';

const TABLES = `CREATE TABLE school_lockdowns (
     school TEXT PRIMARY KEY,
     active INTEGER NOT NULL,
     version INTEGER NOT NULL,
     reason TEXT,
     set_by TEXT NOT NULL,
     set_at TEXT NOT NULL
   );
   CREATE TABLE device_lockdowns (
     device TEXT PRIMARY KEY,
     school TEXT NOT NULL,
     version INTEGER NOT NULL,
     active INTEGER NOT NULL,
     at TEXT NOT NULL
   );`;
/**
 * The second step: the gates in lockdown by their own switch (a guard's, at the gatehouse), from when,
 * as the latest switch event each gate sent says; filled from the events already stored.
 */
const SWITCHED = {
  sqlite: `CREATE TABLE gate_switch_lockdowns (device TEXT PRIMARY KEY, school TEXT NOT NULL, since TEXT NOT NULL);
     INSERT INTO gate_switch_lockdowns (device, school, since)
       SELECT device, school, at FROM events e
       WHERE type = 'gate.lockdown' AND coalesce(json_extract(record, '$.data.source'), 'switch') = 'switch'
         AND NOT EXISTS (SELECT 1 FROM events later
           WHERE later.device = e.device AND later.id > e.id
             AND later.type IN ('gate.lockdown', 'gate.lockdown-lifted')
             AND coalesce(json_extract(later.record, '$.data.source'), 'switch') = 'switch')
       ON CONFLICT DO NOTHING;`,
  postgres: `CREATE TABLE gate_switch_lockdowns (
       device TEXT COLLATE "C" PRIMARY KEY,
       school TEXT COLLATE "C" NOT NULL,
       since TEXT COLLATE "C" NOT NULL
     );
     INSERT INTO gate_switch_lockdowns (device, school, since)
       SELECT device, school, at FROM events e
       WHERE type = 'gate.lockdown' AND coalesce(record::jsonb #>> '{data,source}', 'switch') = 'switch'
         AND NOT EXISTS (SELECT 1 FROM events later
           WHERE later.device = e.device AND later.id > e.id
             AND later.type IN ('gate.lockdown', 'gate.lockdown-lifted')
             AND coalesce(later.record::jsonb #>> '{data,source}', 'switch') = 'switch')
       ON CONFLICT DO NOTHING;`,
};
export const LOCKDOWN_STEPS = {
  sqlite: [TABLES, SWITCHED.sqlite],
  postgres: [TABLES, SWITCHED.postgres],
} satisfies ModuleSteps;

/** How long a live `lockdown.set` stays good: a gate that misses it gets it in its next birth's answer. */
export const LOCKDOWN_COMMAND_TTL_MS = 10 * 60_000;

interface SchoolRow {
  school: string;
  active: number;
  version: number;
  reason: string | null;
  set_by: string;
  set_at: string;
}

interface DeviceRow {
  device: string;
  version: number;
  active: number;
  at: string;
}

export interface LockdownDeps {
  store: BridgeStore;
  commands: {
    send(school: string, device: string, order: CommandOrder, ttlMs?: number): Promise<unknown>;
    sign(school: string, device: string, order: CommandOrder, ttlMs?: number): Command;
  };
  alarms: {
    raise(input: { kind: string; message: string; school?: string }): unknown;
    clear(kind: string, subject: { school?: string }, by?: string): unknown;
  };
  /** Who was refused entry for a reason since an instant and has not come in since (attendance's). */
  turnedAwaySince: (school: string, since: string, reason: 'lockdown') => TurnedAwayPerson[];
  logger: Logger;
  now: () => Date;
}

/**
 * A school's lockdown ordered at the bridge: every gate of the school refuses entries until it is
 * lifted. The order is kept per school with a version counted in the database (so instances sharing
 * it agree), sent to each gate as a signed `lockdown.set` at once, and again in the answer to every
 * birth, so a gate that was offline, or restarted from a backup, catches up. Each gate journals what
 * it applied (`gate.lockdown` with `source: bridge`), which a commit projection keeps per device.
 */
export class Lockdowns {
  private readonly s;

  constructor(private readonly deps: LockdownDeps) {
    const db = deps.store.database;
    migrateModule(db, 'lockdown', LOCKDOWN_STEPS);
    this.s = {
      get: db.prepare<[string], SchoolRow>('SELECT * FROM school_lockdowns WHERE school = ?'),
      set: db.prepare<[string, number, string | null, string, string], SchoolRow>(
        `INSERT INTO school_lockdowns (school, active, version, reason, set_by, set_at)
         VALUES (?, ?, 1, ?, ?, ?)
         ON CONFLICT (school) DO UPDATE SET active = excluded.active,
           version = school_lockdowns.version + 1, reason = excluded.reason,
           set_by = excluded.set_by, set_at = excluded.set_at
         RETURNING *`,
      ),
      applied: db.prepare<[string, string, number, number, string]>(
        `INSERT INTO device_lockdowns (device, school, version, active, at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device) DO UPDATE SET school = excluded.school, version = excluded.version,
           active = excluded.active, at = excluded.at
         WHERE excluded.version >= device_lockdowns.version`,
      ),
      appliedIn: db.prepare<[string], DeviceRow>('SELECT * FROM device_lockdowns WHERE school = ?'),
      switchedOn: db.prepare<[string, string, string]>(
        'INSERT INTO gate_switch_lockdowns (device, school, since) VALUES (?, ?, ?) ON CONFLICT (device) DO NOTHING',
      ),
      switchedOff: db.prepare<[string]>('DELETE FROM gate_switch_lockdowns WHERE device = ?'),
      switchedIn: db.prepare<[string], { device: string; since: string }>(
        'SELECT device, since FROM gate_switch_lockdowns WHERE school = ?',
      ),
    };
    deps.store.addCommitProjection((events) => this.project(events));
  }

  get(school: string): SchoolLockdown {
    const row = this.s.get.get(school);
    return row ? toLockdown(row) : { school, active: false, version: 0 };
  }

  /** Whether the school is in lockdown now: ordered from the bridge, or by a gate's own switch. */
  readonly lockedDown = (school: string): boolean =>
    this.get(school).active || this.s.switchedIn.all(school).length > 0;

  /**
   * Puts the school in lockdown, or lifts it: stored (a new version), the school's alarm raised or
   * cleared, and the order sent to each of its gates. A gate the broker could not reach now gets it
   * in the answer to its next birth. Returns the lockdown and how many gates it was sent to.
   */
  async set(
    school: string,
    change: { active: boolean; reason?: string | undefined },
    by: string,
  ): Promise<{ lockdown: SchoolLockdown; sent: number; unsent: string[] }> {
    const at = this.deps.now().toISOString();
    const row = this.s.set.get(school, change.active ? 1 : 0, change.reason ?? null, by, at) as SchoolRow;
    const lockdown = toLockdown(row);
    const { alarms, logger } = this.deps;
    if (lockdown.active) {
      logger.warn(
        { school, version: lockdown.version, by, reason: lockdown.reason },
        'school lockdown ordered',
      );
      alarms.raise({
        kind: ALARM_KINDS.schoolLockdown,
        school,
        message: `lockdown ordered by ${by}${lockdown.reason ? `: ${lockdown.reason}` : ''}; the gates refuse entries`,
      });
    } else {
      logger.info({ school, version: lockdown.version, by }, 'school lockdown lifted');
      alarms.clear(ALARM_KINDS.schoolLockdown, { school }, by);
    }
    const gates = schoolGates(this.deps.store, school);
    const unsent: string[] = [];
    for (const gate of gates) {
      try {
        await this.deps.commands.send(school, gate.id, orderOf(lockdown), LOCKDOWN_COMMAND_TTL_MS);
      } catch (error) {
        unsent.push(gate.id);
        logger.warn(
          { school, device: gate.id, err: (error as Error).message },
          'lockdown order not sent: the gate gets it in the answer to its next birth',
        );
      }
    }
    return { lockdown, sent: gates.length - unsent.length, unsent };
  }

  /**
   * The school's lockdown, each gate's part in it (and whether its own switch has it in lockdown,
   * since when) and, while either lasts, who it keeps outside: the gatehouse goes to them, the office
   * calls their parents. Refusals count from the earliest of the order and the switches on.
   */
  status(school: string): LockdownView {
    const lockdown = this.get(school);
    const applied = new Map(this.s.appliedIn.all(school).map((row) => [row.device, row]));
    const switched = new Map(this.s.switchedIn.all(school).map((row) => [row.device, row.since]));
    const gates = schoolGates(this.deps.store, school).map((gate): GateLockdown => {
      const row = applied.get(gate.id);
      const version = row?.version ?? 0;
      const switchSince = switched.get(gate.id);
      return {
        device: gate.id,
        online: gate.presence?.online ?? false,
        version,
        active: row ? row.active === 1 : false,
        ...(row ? { at: row.at } : {}),
        current: version === lockdown.version,
        ...(switchSince ? { switchSince } : {}),
      };
    });
    // From the earliest of what refuses entries now: the order, and each gate's own switch.
    const [since] = [
      ...(lockdown.active && lockdown.setAt ? [lockdown.setAt] : []),
      ...gates.flatMap((gate) => gate.switchSince ?? []),
    ].sort();
    const outside = since ? this.deps.turnedAwaySince(school, since, 'lockdown') : [];
    return { lockdown, gates, outside };
  }

  /** The school's lockdown as a signed order for one of its gates, for a sync answer; none if never set. */
  commandFor(school: string, device: string): Command | undefined {
    const lockdown = this.get(school);
    if (lockdown.version === 0) return undefined;
    return this.deps.commands.sign(school, device, orderOf(lockdown), LOCKDOWN_COMMAND_TTL_MS);
  }

  private project(events: CommittedEvent[]): void {
    for (const event of events) {
      const on = committedData(event, 'gate.lockdown');
      const off = committedData(event, 'gate.lockdown-lifted');
      const order = on ?? off;
      if (!order) continue;
      if (order.source !== 'bridge') {
        if (on) this.s.switchedOn.run(event.device, event.school, event.at);
        else this.s.switchedOff.run(event.device);
      } else if (order.version !== undefined)
        this.s.applied.run(event.device, event.school, order.version, on ? 1 : 0, event.at);
    }
  }
}

function toLockdown(row: SchoolRow): SchoolLockdown {
  return {
    school: row.school,
    active: row.active === 1,
    version: row.version,
    ...(row.reason ? { reason: row.reason } : {}),
    setBy: row.set_by,
    setAt: row.set_at,
  };
}

function orderOf(lockdown: SchoolLockdown): CommandOrder {
  return {
    name: 'lockdown.set',
    args: {
      active: lockdown.active,
      version: lockdown.version,
      ...(lockdown.reason ? { reason: lockdown.reason } : {}),
    },
  };
}
