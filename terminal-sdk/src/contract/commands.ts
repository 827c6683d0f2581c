import type { Ed25519KeyPair } from '../crypto/ed25519.js';
import { fromBase64Url } from '../crypto/encoding.js';
import type { Command } from './messages.js';
import type { KeyRole } from './roster.js';
import { countValidSignatures, type Signature, signDocument } from './signed.js';

/** The longest a command may live, from issue to expiry: a captured command is worth little for long. */
export const MAX_COMMAND_LIFETIME_MS = 3_600_000;

/** A command as the bridge makes it, before it signs it: for one device of one school, stamped when issued. */
export type CommandToSign = Omit<Command, 'signatures' | 'device' | 'school' | 'issuedAt'> & {
  device: string;
  school: string;
  issuedAt: string;
};

/** Signs a command with the keys of the `commands` role: over its canonical bytes without `signatures`. */
export function signCommand(command: CommandToSign, keys: Ed25519KeyPair[]): Command {
  const { signatures } = signDocument(command, keys);
  return { ...command, signatures } as Command;
}

export interface CommandTrust {
  device: string;
  school: string;
  /** The `commands` role of the newest key set the device trusts; undefined when it names none. */
  role: KeyRole | undefined;
  /** The device's clock, in ms. */
  now: number;
}

/** Why a device does not run a command: `expired` past its expiry, `refused` for anything else. */
export interface CommandRefusal {
  status: 'expired' | 'refused';
  reason: string;
}

/**
 * Whether a device may run a command, `raw` being the message as received (the signature covers
 * fields this peer does not know too): signed by the threshold of its key set's `commands` role, for
 * this device of this school, issued with a lifetime of at most an hour and not expired. Undefined
 * when it may. Whether the id was seen before is the caller's to check: it holds the ids it ran.
 */
export function commandRefusal(
  raw: Record<string, unknown>,
  command: Command,
  trust: CommandTrust,
): CommandRefusal | undefined {
  const refused = (reason: string): CommandRefusal => ({ status: 'refused', reason });
  const { signatures, ...signed } = raw as { signatures?: Signature[] };
  if (!command.signatures || !signatures) return refused('the command is not signed');
  if (!trust.role)
    return refused(
      "this device's key set names no command key: the bridge's keys must be rotated to one that does",
    );
  const keys = new Map(trust.role.keys.map((k) => [k.keyId, fromBase64Url(k.publicKey)]));
  const valid = countValidSignatures({ signed, signatures }, keys);
  if (valid < trust.role.threshold)
    return refused(
      `the command has ${valid} valid signature(s) from the command keys this device trusts, ${trust.role.threshold} needed`,
    );
  if (command.device !== trust.device || command.school !== trust.school)
    return refused(`the command is for ${command.school ?? '?'}/${command.device ?? '?'}`);
  const issued = Date.parse(command.issuedAt ?? '');
  const expires = Date.parse(command.expiresAt);
  if (!(expires - issued <= MAX_COMMAND_LIFETIME_MS) || expires < issued)
    return refused('the command lives longer than an hour, or expires before it was issued');
  if (expires < trust.now)
    return { status: 'expired', reason: `the command expired at ${command.expiresAt}` };
  return undefined;
}
