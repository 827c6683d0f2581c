import type { Logger } from 'pino';
import { type Attendance, addDays, type ClassDay } from '../attendance/index.js';
import { schoolGates } from '../devices/index.js';
import type { Directory } from '../directory/index.js';
import type { BridgeStore, Device } from '../store/index.js';
import type { NoticeLedger } from './ledger.js';
import type { AbsenceNotice } from './notice.js';
import { type SchoolDayPlan, SchoolDays } from './schools.js';
import type { AbsenceHold } from './types.js';

/** A gate not heard from for longer than this is out of service, not cut off: it holds nothing back. */
const OUT_OF_SERVICE_MS = 24 * 3_600_000;
/** A gate back online this recently may still be sending what it kept meanwhile. */
const BACK_SETTLE_MS = 60_000;
/** While the notices are held for a gate, how often the school is looked at again. */
const HELD_RECHECK_MS = 60_000;

export interface AbsenceDeps {
  store: Pick<BridgeStore, 'listDevices' | 'rosterSchools'>;
  directory: Pick<Directory, 'schools'>;
  attendance: Pick<Attendance, 'today' | 'startOfDay' | 'cutoffOf' | 'attendanceDay'>;
  ledger: NoticeLedger;
  logger: Logger;
}

/** One school's day for one webhook: when to look again, and what holds the notices back. */
interface Plan extends SchoolDayPlan {
  held?: Pick<AbsenceHold, 'reason' | 'gates'>;
}

const HELD_WHY: Record<AbsenceHold['reason'], string> = {
  'gates-offline': 'absence notices held: a gate of the school is offline and may hold passages',
  'gates-silent': 'absence notices held: no gate of the school has recorded anyone today',
};

/**
 * Absence notices: after a class's cut-off on a school day, each of its pupils without a passage and
 * not on leave (attendance's `absent`) is a notice, queued once a day per webhook (the ledger keeps
 * which). None after the class's dismissal: a parent told at six that their child did not come is told
 * too late to act. While a gate of the school is offline (or just back), its passages may not be here
 * yet: the notices wait for it, as long as the day lasts, rather than tell a parent a child who came
 * is absent. So they do while no gate of the school has recorded anyone that day (a school whose gates
 * are not in use yet, or all down): every parent of the school would be told. A school is looked at
 * when its cut-off passes and again at each later class's cut-off, never in between.
 */
export class AbsenceWatch {
  private readonly days: SchoolDays<Plan>;

  constructor(private readonly deps: AbsenceDeps) {
    this.days = new SchoolDays(deps, (school) => this.planOf(school));
  }

  /**
   * One round for a webhook: looks at the schools whose time has come, at most `budget` of them (a day
   * of a large school takes tens of milliseconds). Returns how many it looked at.
   */
  step(hook: { key: string; school?: string }, now: number, budget: number): number {
    return this.days.step(hook, now, budget, (school, plan) => this.look(hook.key, school, plan, now));
  }

  /** A webhook's schools whose absence notices are held now, and why. */
  held(hookKey: string): AbsenceHold[] {
    return [...this.days.of(hookKey)].flatMap(([school, plan]) =>
      plan.held ? [{ school, date: plan.date, ...plan.held }] : [],
    );
  }

  private planOf(school: string): Plan {
    const { attendance } = this.deps;
    const date = attendance.today(school);
    return {
      date,
      nextDayAt: attendance.startOfDay(school, addDays(date, 1)),
      checkAt: attendance.cutoffOf(school, date),
    };
  }

  private look(key: string, school: string, plan: Plan, now: number): void {
    const { logger } = this.deps;
    const gates = schoolGates(this.deps.store, school);
    if (gates.length === 0) {
      // Nothing could say who came: no notice, and nothing held (no alert for a school without gates).
      plan.checkAt = Number.POSITIVE_INFINITY;
      logger.info(
        { school, date: plan.date, webhook: key },
        'no absence notices today: the school has no gate',
      );
      return;
    }
    const day = this.deps.attendance.attendanceDay(school, plan.date);
    const later = day.classes.map((c) => Date.parse(c.cutoffTime)).filter((at) => at > now);
    plan.checkAt = day.schoolDay && later.length ? Math.min(...later) : Number.POSITIVE_INFINITY;
    if (!day.schoolDay) return;
    const due = day.classes.filter(
      (c) => Date.parse(c.cutoffTime) <= now && now < Date.parse(c.dismissalTime),
    );
    const log = { school, date: plan.date, webhook: key };
    if (!due.length) {
      if (plan.held)
        logger.warn({ ...log, ...plan.held }, 'absence notices not sent today: held until dismissal');
      delete plan.held;
      return;
    }
    const offline = gatesNotCaughtUp(gates, now);
    const held: Plan['held'] = offline.length
      ? { reason: 'gates-offline', gates: offline }
      : day.gatesSilent
        ? { reason: 'gates-silent', gates: [] }
        : undefined;
    if (held) {
      if (plan.held?.reason !== held.reason)
        logger.warn({ ...log, gates: held.gates }, HELD_WHY[held.reason]);
      plan.held = held;
      plan.checkAt = Math.min(plan.checkAt, now + HELD_RECHECK_MS);
      return;
    }
    if (plan.held) {
      logger.info(log, 'absence notices resumed: the gates are back');
      delete plan.held;
    }
    const queued = this.deps.ledger.queueAbsences(key, due.flatMap(absenceNotices(school, day.date)), now);
    if (queued) logger.info({ ...log, queued }, 'absence notices queued');
  }
}

/** Of a school's gates, those offline (but in service) or back too recently. */
function gatesNotCaughtUp(gates: readonly Device[], now: number): string[] {
  return gates
    .filter((gate) => {
      const lastSeen = gate.lastSeenAt ? Date.parse(gate.lastSeenAt) : undefined;
      if (lastSeen === undefined || now - lastSeen > OUT_OF_SERVICE_MS) return false;
      const presence = gate.presence;
      return !presence?.online || now - Date.parse(presence.at) < BACK_SETTLE_MS;
    })
    .map((gate) => gate.id);
}

/** The notices of a class's absent pupils. */
const absenceNotices =
  (school: string, date: string) =>
  (group: ClassDay): AbsenceNotice[] =>
    group.pupils
      .filter((pupil) => pupil.status === 'absent')
      .map((pupil) => ({
        id: `a${date}:${pupil.personId}`,
        kind: 'absent',
        school,
        personId: pupil.personId,
        ...(pupil.studentNumber ? { studentNumber: pupil.studentNumber } : {}),
        name: pupil.name,
        class: group.class,
        date,
        cutoffAt: group.cutoffTime,
        ...(pupil.turnedAwayAt
          ? { turnedAwayAt: pupil.turnedAwayAt, turnedAwayReason: pupil.turnedAwayReason }
          : {}),
      }));
