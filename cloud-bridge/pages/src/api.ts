/** The bridge's API as the pages use it: same origin, the session cookie, JSON both ways. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    credentials: 'same-origin',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok)
    throw new ApiError(response.status, String(body.message ?? body.error ?? response.statusText));
  return body as T;
}

export type AccountRole = 'district-admin' | 'school-admin' | 'head-teacher' | 'operator';

export interface Account {
  id: string;
  username: string;
  displayName?: string;
  role: AccountRole;
  school?: string;
  className?: string;
  disabled?: boolean;
  createdAt?: string;
  lastLoginAt?: string;
}

export interface Session {
  account: Account;
  expiresAt: string;
}

export type PupilStatus = 'present' | 'late' | 'absent' | 'not-arrived' | 'on-leave';

export interface Counts {
  pupils: number;
  present: number;
  late: number;
  absent: number;
  notArrived: number;
  onLeave: number;
  leftEarly: number;
}

export interface ClassDay {
  class: string;
  name: string;
  grade?: string;
  bellTime: string;
  cutoffTime: string;
  dismissalTime: string;
  counts: Counts;
  pupils: {
    personId: string;
    name: string;
    studentNumber?: string;
    status: PupilStatus;
    arrivedAt?: string;
    leftAt?: string;
    leftEarly: boolean;
  }[];
}

export interface AttendanceDay {
  school: string;
  date: string;
  schoolDay: boolean;
  reason?: 'weekend' | 'holiday' | 'closure';
  cutoffPassed: boolean;
  totals: Counts;
  classes: ClassDay[];
}

export interface TrendWeek {
  weekStart: string;
  schoolDays: number;
  pupils: number;
  present: number;
  late: number;
  absent: number;
  rate: number;
}

export interface Alarm {
  id: number | string;
  school?: string;
  device?: string;
  kind: string;
  message: string;
  raisedAt: string;
  clearedAt?: string;
  acknowledgedAt?: string;
}

export interface DeviceHealth {
  id: string;
  school: string;
  online: boolean;
  lastSeenAt?: string;
  firmware?: string;
  rosterVersion?: number;
  latestRosterVersion?: number;
  rosterExpiresAt?: string;
  journalBacklog?: number;
  revoked?: boolean;
  openAlarms: Alarm[];
}

export interface StreamEvent {
  id: number;
  school: string;
  device: string;
  at: string;
  type: string;
  [key: string]: unknown;
}

export interface CardView {
  cardId: string;
  personId: string;
  name?: string;
  school: string;
  status: string;
  propagation?: {
    version: number;
    changedAt: string;
    gates: { device: string; online: boolean; rosterVersion?: number; appliedAt?: string }[];
  };
}

export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  role?: string;
  action: string;
  target?: string;
  school?: string;
  outcome: 'ok' | 'denied' | 'failed';
}

/** A school day as the bridge names it: today in the browser's own calendar. */
export const today = () => {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
};

/** A time of day in the browser's locale, or a dash. */
export const clock = (iso: string | undefined) =>
  iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '–';

export const stamp = (iso: string | undefined) =>
  iso ? new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' }) : '–';
