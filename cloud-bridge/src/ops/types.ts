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

/**
 * A person moved between schools of the district, as the operations page shows it: both schools'
 * roster versions that carry it and, gate by gate, when each applied its school's. Never a full card
 * number.
 */
export interface TransferView {
  id: number;
  personId: string;
  name?: string;
  from: string;
  to: string;
  /** The first day at the new school. */
  on: string;
  /** When the bridge applied it. */
  at: string;
  source: 'feed' | 'api';
  actor: string;
  /** The cards that moved, masked (`******1234`). */
  cards: string[];
  /** `gates` is absent for a school whose gates the caller may not see (the other school of a transfer). */
  schools: { school: string; version: number; gates?: GatePropagation[] }[];
  /** Books the person still has out at the old school's library now, for a caller who sees that school. */
  booksOut?: number;
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

/** A school's latest roster, and when its signed manifest stops the gates from using it. */
export interface RosterExpiry {
  school: string;
  version: number;
  issuedAt: string;
  expiresAt: string;
  /** From when it is flagged and raises `roster.expiring` (docs/operations.md). */
  warnFrom: string;
  expiring: boolean;
  expired: boolean;
  /** Gateways of the school holding an older version (0: none yet), and when what they hold expires. */
  olderHeld: { device: string; version: number; expiresAt: string | null }[];
}

/** The holidays and closures a school's calendar names in the school year under way. */
export interface CalendarCoverage {
  school: string;
  timeZone: string;
  schoolYear: { first: string; last: string };
  holidays: number;
  closures: number;
}

/**
 * The latest key set. Key sets carry no expiry: its age is shown instead, which is the roster key's
 * since its last rotation (every rotation issues a key set).
 */
export interface KeySetAge {
  version: number;
  issuedAt: string;
  ageDays: number;
}

/** What the bridge depends on the date for (`GET /v1/ops/expiry`). */
export interface ExpiryView {
  /** The bridge's time of the answer: every figure is reckoned from it. */
  at: string;
  warningDays: number;
  rosters: RosterExpiry[];
  calendars: CalendarCoverage[];
  keySet: KeySetAge | null;
}
