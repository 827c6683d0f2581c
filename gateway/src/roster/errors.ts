export const REJECTION_CODES = [
  'malformed',
  'too-large',
  'unknown-key',
  'bad-signature',
  'keyset-version',
  'digest-mismatch',
  'length-mismatch',
  'rollback',
  'out-of-order',
  'expired',
  'wrong-school',
  'wrong-device',
  'wrong-variant',
  'inconsistent',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

/** Why a key set, a manifest or a body was refused. The roster in force stays in force. */
export class RosterRejected extends Error {
  constructor(
    readonly code: RejectionCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'RosterRejected';
  }
}

export function reject(code: RejectionCode, message: string): never {
  throw new RosterRejected(code, message);
}

/** Refusals that say a stored file is damaged; others (a key not trusted yet) are no damage. */
const DAMAGE: ReadonlySet<RejectionCode> = new Set([
  'malformed',
  'bad-signature',
  'digest-mismatch',
  'length-mismatch',
  'inconsistent',
  'too-large',
]);

/**
 * Whether a stored roster or catalogue file failed as damaged files fail: refused for what it holds,
 * or unreadable (a body gone, an I/O error).
 */
export function isStoredFileDamage(error: unknown): boolean {
  if (error instanceof RosterRejected) return DAMAGE.has(error.code);
  return (error as NodeJS.ErrnoException).code !== undefined;
}
