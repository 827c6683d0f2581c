// The lockdown's answers, without Node: the pages import them.

import type { TurnedAwayPerson } from '../attendance/types.js';

export interface SchoolLockdown {
  school: string;
  active: boolean;
  /** How many times the school's lockdown was set: gates apply only a newer one. 0: never. */
  version: number;
  reason?: string;
  setBy?: string;
  setAt?: string;
}

/** A gate of the school, and the latest lockdown order it has journaled applying. */
export interface GateLockdown {
  device: string;
  online: boolean;
  /** The version it applied (0: none yet), whether it was on, and when the gate applied it. */
  version: number;
  active: boolean;
  at?: string;
  /** It applied the school's current order. */
  current: boolean;
  /** Its own lockdown switch is on (a guard's, at the gate), since then: it refuses entries whatever the order. */
  switchSince?: string;
}

/** A school's lockdown and each gate's part in it: `GET /v1/schools/{school}/lockdown`. */
export interface LockdownView {
  lockdown: SchoolLockdown;
  gates: GateLockdown[];
  /** While it or a gate's switch lasts: who was refused entry for a lockdown and has not come in since, first refused first. */
  outside: TurnedAwayPerson[];
}
