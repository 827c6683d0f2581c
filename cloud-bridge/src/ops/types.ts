/**
 * Alarms, device health, card propagation and the live events as the API answers them. Nothing
 * here runs on Node, so the bridge's pages type-check against this file (pages/src/api.ts).
 */

export interface Alarm {
  id: number;
  kind: string;
  school?: string;
  device?: string;
  message: string;
  raisedAt: string;
  /** When it was last raised again (a door forced twice is one alarm, counted twice). */
  lastAt: string;
  count: number;
  open: boolean;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  clearedAt?: string;
  clearedBy?: string;
}

export interface DeviceHealth {
  id: string;
  school: string;
  online: boolean;
  lastSeenAt: string | null;
  firmware: string | null;
  rosterVersion: number | null;
  latestRosterVersion: number | null;
  /** The expiry of the version the device holds, from that version's signed manifest. */
  rosterExpiresAt: string | null;
  keySetVersion: number | null;
  journalBacklog: number | null;
  /** The device's storage as it last reported it live (a full disk, records held, lost, quarantined). */
  storage: {
    diskLow: boolean;
    diskFull: boolean;
    held: number;
    maxHeld: number;
    lost: number;
    freeBytes?: number;
    quarantined: number;
  } | null;
  revoked: boolean;
  openAlarms: Alarm[];
}

export interface GatePropagation {
  device: string;
  online: boolean;
  rosterVersion: number | null;
  /** Whether the gate holds the version (or a later one). */
  applied: boolean;
  /** When it applied it, from its `roster.applied` record; absent when only its presence tells. */
  appliedAt?: string;
}

export interface CardChangeView {
  status: string;
  version: number;
  at: string;
  actor: string;
}

export interface CardView {
  cardId: string;
  personId: string;
  name?: string;
  school: string;
  status: string;
  changes: CardChangeView[];
  /** Absent for a card whose status was never changed through the API (it came with an import). */
  propagation?: { version: number; changedAt: string; gates: GatePropagation[] };
}

/** One committed event as the operations page shows it: never a full card number. */
export interface EventSummary {
  id: number;
  school: string;
  device: string;
  type: string;
  at: string;
  /** The card id masked to its last four characters (`******1234`). */
  card?: string;
  personId?: string;
  name?: string;
  decision?: string;
  reason?: string;
}
