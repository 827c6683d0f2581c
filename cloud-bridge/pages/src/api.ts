/** The bridge's API as the pages use it: same origin, the session cookie, JSON both ways. */
import type { SessionView } from '../../src/accounts/types.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** `allow`: statuses besides 2xx whose body is the answer (an import's 422 report of its problems). */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; allow?: number[] } = {},
): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    credentials: 'same-origin',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!response.ok && !init.allow?.includes(response.status))
    throw new ApiError(response.status, String(body.message ?? body.error ?? response.statusText));
  return body as T;
}

// The bridge's answers, typed from its own modules' Node-free type files: one definition each.
export type { AccountRole } from '../../src/access/types.js';
export type {
  Account,
  SessionView as Session,
  StoredAuditEntry as AuditEntry,
} from '../../src/accounts/types.js';
export type {
  AttendanceDay,
  ClassDay,
  ConsecutiveAbsences,
  DayCounts as Counts,
  ParentNotice,
  PupilDay,
  PupilStatus,
  RefusalParentNotice,
  TrendWeek,
} from '../../src/attendance/types.js';
export type { PushStatus } from '../../src/central/types.js';
export type {
  CatalogueImportReport,
  LoanConflictView,
  OverdueList,
  OverdueLoan,
} from '../../src/library/types.js';
export type { GateLockdown, LockdownView } from '../../src/lockdown/types.js';
export type { NoticeWebhookStatus } from '../../src/notices/types.js';

/** The signed-in account, as the session answer carries it. */
export type SignedInAccount = SessionView['account'];
export type {
  Alarm,
  CardView,
  DeviceHealth,
  EventSummary as StreamEvent,
  ExpiryView,
  GatePropagation,
  TransferView,
} from '../../src/ops/types.js';
export type { RolloutDevice, RolloutView } from '../../src/rollouts/types.js';
export type { VenueDay } from '../../src/venues/visits.js';

/** A school day as the bridge names it: today in the browser's own calendar. */
export const today = () => {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
};

/** A time of day in the browser's locale, or a dash. */
export const clock = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '–';

export const stamp = (iso: string | null | undefined) =>
  iso ? new Date(iso).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' }) : '–';
