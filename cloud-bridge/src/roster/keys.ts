import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Ed25519KeyPair,
  ed25519,
  fromBase64Url,
  generateKeyPair,
  issueKeySet,
  keyRole,
  toBase64Url,
} from '@educard/terminal-sdk';

export interface RosterKeys {
  root: Ed25519KeyPair[];
  roster: Ed25519KeyPair[];
  /** Every key set issued, oldest first (each a signed envelope, as JSON). */
  keySets: string[];
}

interface StoredKeys {
  root: string[];
  roster: string[];
  keySets: string[];
}

const pair = (seed: string) => ed25519.keyPairFromSeed(fromBase64Url(seed));

/**
 * The bridge's root and online roster keys, kept in a file only its owner reads; made with key set 1
 * on first start. (The technician CLI will move the root keys offline and rotate the roster key.)
 */
export async function loadOrCreateRosterKeys(dataDir: string): Promise<RosterKeys> {
  const path = join(dataDir, 'roster-keys.json');
  try {
    const stored = JSON.parse(await readFile(path, 'utf8')) as StoredKeys;
    return { root: stored.root.map(pair), roster: stored.roster.map(pair), keySets: stored.keySets };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const root = [generateKeyPair()];
  const roster = [generateKeyPair()];
  const keySet = issueKeySet({ version: 1, root: keyRole(root), roster: keyRole(roster), signers: root });
  const keys = { root, roster, keySets: [Buffer.from(keySet).toString('utf8')] };
  const stored: StoredKeys = {
    root: root.map((k) => toBase64Url(k.seed)),
    roster: roster.map((k) => toBase64Url(k.seed)),
    keySets: keys.keySets,
  };
  await writeFile(path, JSON.stringify(stored, null, 2), { mode: 0o600 });
  await chmod(path, 0o600);
  return keys;
}
