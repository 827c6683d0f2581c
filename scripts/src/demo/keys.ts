import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type Ed25519KeyPair, ed25519, generateKeyPair } from '@educard/terminal-sdk';

interface StoredKeys {
  root: string[];
  roster: string[];
}

const toPair = (seedHex: string): Ed25519KeyPair =>
  ed25519.keyPairFromSeed(new Uint8Array(Buffer.from(seedHex, 'hex')));
const toHex = (pair: Ed25519KeyPair) => Buffer.from(pair.seed).toString('hex');

/** The demo's root and roster keys: made on the first run and kept (git-ignored) for the next. */
export async function demoKeys(
  path: string,
): Promise<{ root: Ed25519KeyPair[]; roster: Ed25519KeyPair[]; made: boolean }> {
  try {
    const stored = JSON.parse(await readFile(path, 'utf8')) as StoredKeys;
    return { root: stored.root.map(toPair), roster: stored.roster.map(toPair), made: false };
  } catch {
    const keys = { root: [generateKeyPair()], roster: [generateKeyPair()] };
    await mkdir(dirname(path), { recursive: true });
    await writeFile(
      path,
      JSON.stringify({ root: keys.root.map(toHex), roster: keys.roster.map(toHex) }, null, 2),
      {
        mode: 0o600,
      },
    );
    return { ...keys, made: true };
  }
}
