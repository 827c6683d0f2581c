/**
 * A school day's attendance and the weekly trend as the API answers them. Nothing here runs on
 * Node, so the bridge's pages type-check against this file (pages/src/api.ts) rather than keep copies.
 */

import type { DenyReason } from '@educard/terminal-sdk';

export type NotSchoolDay = 'weekend' | 'holiday' | 'closure';

export type PupilStatus = 'present' | 'late' | 'absent' | 'not-arrived' | 'on-leave';

export interface PupilDay {
  personId: string;
  name: string;
  studentNumber?: string;
  status: PupilStatus;
  arrivedAt?: string;
  leftAt?: string;
  leftEarly: boolean;
  /** The pupil was refused entry at a gate and is outside: when, and the gate's reason. */
  turnedAwayAt?: string;
  turnedAwayReason?: DenyReason;
  /** What the parents were told of the absence, where a webhook sends absence notices (docs/notices.md). */
  parentNotice?: ParentNotice;
  /**
   * What the parents of a pupil turned away were told of it, where a webhook sends refusal notices: the
   * notice of the latest refusal since they last left (a pupil refused again is not told again).
   */
  refusalNotice?: RefusalParentNotice;
}

/**
 * An absence notice to a pupil's parents: `waiting` (queued or on its way, `at` when queued),
 * `delivered` (the receiver took it, at `at`) or `given-up` (every attempt failed, the last at `at`).
 */
export interface ParentNotice {
  state: 'waiting' | 'delivered' | 'given-up';
  at: string;
}

/** A refusal notice to a pupil's parents, and the refusal it told of. */
export interface RefusalParentNotice extends ParentNotice {
  refusedAt: string;
}

export interface DayCounts {
  pupils: number;
  present: number;
  late: number;
  absent: number;
  notArrived: number;
  onLeave: number;
  leftEarly: number;
  turnedAway: number;
}

export interface ClassDay {
  class: string;
  name: string;
  grade?: string;
  bellTime: string;
  cutoffTime: string;
  dismissalTime: string;
  counts: DayCounts;
  pupils: PupilDay[];
}

export interface AttendanceDay {
  school: string;
  date: string;
  timeZone: string;
  schoolDay: boolean;
  reason?: NotSchoolDay;
  cutoffPassed: boolean;
  /**
   * A school day past its cut-off on which no gate of the school recorded anyone, let in or refused:
   * the gates were not in use yet, or down, so its absences are not known (and no absence notice goes).
   */
  gatesSilent?: true;
  generatedAt: string;
  totals: DayCounts;
  classes: ClassDay[];
  /** The school's gates holding its absence notices back today (offline or just back): its parents wait. */
  parentNoticesHeldBy?: string[];
}

export interface TrendWeek {
  weekStart: string;
  schoolDays: number;
  pupils: number;
  present: number;
  late: number;
  absent: number;
  /** (present + late) / (present + late + absent); null for a week without a school day counted yet. */
  rate: number | null;
}

/** A pupil absent (not on leave) on each of their school's last school days (docs/attendance.md). */
export interface ConsecutiveAbsence {
  personId: string;
  name: string;
  studentNumber?: string;
  class: string;
  /**
   * How many school days running, up to and including the list's `through` (the school day before it
   * for a class whose own cut-off has not passed yet today).
   */
  days: number;
  /** The first of those days. */
  since: string;
}

/** `GET /v1/attendance/{school}/consecutive-absences`. */
export interface ConsecutiveAbsences {
  school: string;
  class?: string;
  /** The fewest school days running that put a pupil on the list. */
  minDays: number;
  /** The last school day counted: today once its cut-off has passed, else the school day before; null when none. */
  through: string | null;
  pupils: ConsecutiveAbsence[];
}

/** A person refused entry at a gate who has not come in since (`GET /v1/schools/{school}/lockdown`). */
export interface TurnedAwayPerson {
  personId: string;
  name: string;
  class?: string;
  role?: string;
  /** The school the directory has them at, when it is not this one (a pupil of another school). */
  nowAt?: string;
  at: string;
  reason: DenyReason;
  device: string;
}
