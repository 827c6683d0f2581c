import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TerminalEntry } from './config.js';

/** The digest a terminal's password is stored as. The password is 24 random bytes, so no salt is needed. */
export function passwordSha256(password: string): string {
  return createHash('sha256').update(password, 'utf8').digest('hex');
}

/** Whether a password matches a stored digest, compared in constant time. */
export function passwordMatches(password: string, digestHex: string): boolean {
  const expected = Buffer.from(digestHex, 'hex');
  const actual = createHash('sha256').update(password, 'utf8').digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * A new terminal credential: the entry for the gateway's configuration (with the password's digest) and
 * the password, shown once to whoever sets up the terminal.
 */
export function terminalCredential(
  id: string,
  stations: readonly string[],
): { entry: TerminalEntry; password: string } {
  const password = randomBytes(24).toString('base64url');
  return { entry: { id, passwordSha256: passwordSha256(password), stations: [...stations] }, password };
}
