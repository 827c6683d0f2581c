import { chmod, readFile } from 'node:fs/promises';
import {
  type Ed25519KeyPair,
  ed25519,
  fromBase64Url,
  generateKeyPair,
  keyIdOf,
  toBase64Url,
} from '@educard/terminal-sdk';
import { writeFileDurable } from '../storage/index.js';

export interface DeviceIdentity {
  key: Ed25519KeyPair;
  /** base64url of the raw public key: what the bridge enrolls. */
  publicKey: string;
  keyId: string;
}

function identityOf(key: Ed25519KeyPair): DeviceIdentity {
  return { key, publicKey: toBase64Url(key.publicKey), keyId: keyIdOf(key.publicKey) };
}

/**
 * The device's own Ed25519 key, made once and kept in a file only its owner can read. It signs every
 * event batch, so the bridge can tell the device's events from anyone else's.
 */
export async function loadOrCreateIdentity(path: string): Promise<DeviceIdentity> {
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    // The one file the gateway cannot do without: it refuses to start, and doctor says what to do.
    const damaged = (why: string) =>
      new Error(`device key file ${path} is damaged (${why}): educard doctor says what to do`);
    let stored: { seed?: unknown };
    try {
      stored = JSON.parse(text) as { seed?: unknown };
    } catch (error) {
      throw damaged(`not JSON: ${(error as Error).message}`);
    }
    if (typeof stored?.seed !== 'string' || fromBase64Url(stored.seed).length !== 32)
      throw damaged('no 32-byte seed in it');
    return identityOf(ed25519.keyPairFromSeed(fromBase64Url(stored.seed)));
  }
  const key = generateKeyPair();
  await writeFileDurable(
    path,
    JSON.stringify({ seed: toBase64Url(key.seed), publicKey: toBase64Url(key.publicKey) }),
    0o600,
  );
  await chmod(path, 0o600);
  return identityOf(key);
}
