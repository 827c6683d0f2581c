import { createReadStream, createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';

/**
 * Backups are age files (age-encryption.org, X25519 recipients): the bridge holds only the public
 * recipient (`age1…`); the identity that opens them (`AGE-SECRET-KEY-1…`) is kept offline, and the
 * standard `age` tool opens them too (`age -d -i identity.txt backup.age > bridge.db`).
 */
export async function newBackupKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

const toWeb = (path: string) =>
  Readable.toWeb(createReadStream(path)) as unknown as ReadableStream<Uint8Array>;
const fromWeb = (stream: ReadableStream<Uint8Array>) =>
  Readable.fromWeb(stream as unknown as WebReadableStream<Uint8Array>);

/** Encrypts a file to a recipient, streaming (a large database is never whole in memory). */
export async function sealFile(source: string, target: string, recipient: string): Promise<void> {
  const encrypter = new Encrypter();
  encrypter.addRecipient(recipient);
  await pipeline(fromWeb(await encrypter.encrypt(toWeb(source))), createWriteStream(target, { mode: 0o600 }));
}

/** Decrypts a backup with its identity; a wrong key, a damaged or cut file fails, never yields part of one. */
export async function openSealedFile(source: string, target: string, identity: string): Promise<void> {
  const decrypter = new Decrypter();
  decrypter.addIdentity(identity);
  await pipeline(fromWeb(await decrypter.decrypt(toWeb(source))), createWriteStream(target, { mode: 0o600 }));
}
