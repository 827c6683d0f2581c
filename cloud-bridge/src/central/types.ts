/**
 * The event push's status as the API answers it (`GET /v1/central/status`). Nothing here runs on
 * Node, so the bridge's pages type-check against this file (pages/src/api.ts).
 */

export interface PushStatus {
  pending: number;
  deadLetters: number;
  oldestPendingAt?: string;
  /** Now minus the `at` of the oldest event not yet delivered: how far the central system's view is behind. */
  lagSeconds: number;
  lastSuccessAt?: string;
  lastError?: string;
  nextAttemptAt?: string;
  delivered: number;
  devices: { device: string; pending: number; oldestAt: string }[];
}
