/**
 * Accounts, sessions and stored audit entries as the API answers them. Nothing here runs on Node,
 * so the bridge's pages type-check against this file (pages/src/api.ts) rather than keep copies.
 */
import type { AccountRole, AuditEntry } from '../access/types.js';

/** An account as the API shows it: never its password hash. */
export interface Account {
  id: string;
  username: string;
  displayName: string;
  role: AccountRole;
  school?: string;
  className?: string;
  disabled: boolean;
  createdAt: string;
  lastLoginAt?: string;
  passwordChangedAt: string;
}

/** What sign-in and `GET /v1/session` answer: who is signed in, and until when. */
export interface SessionView {
  account: Pick<Account, 'id' | 'username' | 'displayName' | 'role' | 'school' | 'className'>;
  expiresAt: string;
}

/** One stored line of the audit log, as the API shows it. */
export interface StoredAuditEntry extends AuditEntry {
  id: number;
  at: string;
}
