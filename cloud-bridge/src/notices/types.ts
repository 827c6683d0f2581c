// What the notices' status answers, without Node: the pages import it.

/** A delivery given up: shown until a person sends it again, or for 30 days (then dropped). */
export interface FailedDelivery {
  id: string;
  notices: number;
  attempts: number;
  lastError: string | null;
  at: string;
}

/**
 * A school whose absence notices are held: a gate is offline or just back (`gates-offline`, naming
 * them), or no gate of the school has recorded anyone today (`gates-silent`: not in use, or down).
 */
export interface AbsenceHold {
  school: string;
  date: string;
  reason: 'gates-offline' | 'gates-silent';
  gates: string[];
}

/** What a webhook is told of: passages always; refusals, absences and overdue books where turned on. */
export type NoticeKind = 'passages' | 'refusals' | 'absences' | 'overdue-books';

/** One webhook as `GET /v1/notices/status` answers it. */
export interface NoticeWebhookStatus {
  key: string;
  school?: string;
  /** Without its query string, which could hold a token. */
  url: string;
  sends: NoticeKind[];
  /** Notices not yet confirmed: bursts settling, notices waiting for a batch, deliveries under way. */
  pending: number;
  failed: number;
  delivered: number;
  nextAttemptAt?: string;
  lastError?: string;
  lastErrorAt?: string | null;
  lastSuccessAt?: string;
  failedDeliveries: FailedDelivery[];
  /** For a webhook with `absence` on. */
  absenceHeld?: AbsenceHold[];
}
