import { randomBytes } from 'node:crypto';
import { argon2id, hash, verify } from 'argon2';

/**
 * Argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane): about 30 ms a hash on
 * a small server, so a login stays quick and a stolen table stays slow to guess.
 */
const OWASP = { type: argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN_LENGTH = 12;
/** Bounds the work one request can ask of the hasher. */
export const PASSWORD_MAX_LENGTH = 1024;

/** Why a password is refused, or undefined when it is acceptable. Length counts characters, not bytes. */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `a password needs at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `a password may have at most ${PASSWORD_MAX_LENGTH} characters`;
  return undefined;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, OWASP);
}

/** False for a wrong password and for a hash that is not one (never throws on bad input). */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/**
 * A hash of a random password, checked when the username is unknown so that an unknown user costs
 * the same time as a wrong password and the answer's timing does not tell which accounts exist.
 */
export function dummyHash(): Promise<string> {
  return hashPassword(randomBytes(18).toString('base64url'));
}
