/**
 * Roles and audit entries as the API answers them. Nothing here runs on Node, so the bridge's pages
 * type-check against this file (pages/src/api.ts) rather than keep copies.
 */

export const ACCOUNT_ROLES = [
  'district-admin',
  'school-admin',
  'head-teacher',
  'operator',
  'librarian',
] as const;
export type AccountRole = (typeof ACCOUNT_ROLES)[number];

/** One line of the audit log: who did what to what, and whether it was allowed. */
export interface AuditEntry {
  actor: string;
  role?: AccountRole;
  action: string;
  target?: string;
  school?: string;
  outcome: 'ok' | 'denied' | 'failed';
  detail?: Record<string, unknown>;
  ip?: string;
}
