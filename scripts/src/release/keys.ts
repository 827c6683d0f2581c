import { readFile } from 'node:fs/promises';
import {
  describeIssues,
  type Ed25519KeyPair,
  ed25519,
  fromBase64Url,
  generateKeyPair,
  keyRole,
  toBase64Url,
} from '@educard/terminal-sdk';
import { writeFileDurable } from '@educard/terminal-sdk/files';
import { z } from 'zod';

/** A release key file, kept offline like the root key: `{"releases": ["<base64url seed>"]}`. */
const ReleaseKeyFile = z.object({
  releases: z
    .array(z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a 32-byte seed in base64url'))
    .min(1)
    .max(16),
});

export async function readReleaseKeys(file: string): Promise<Ed25519KeyPair[]> {
  const parsed = ReleaseKeyFile.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file} is not a release key file: ${describeIssues(parsed.error)}`);
  return parsed.data.releases.map((seed) => ed25519.keyPairFromSeed(fromBase64Url(seed)));
}

/**
 * Makes a release key: the seed into `file` (mode 0600, for offline keeping) and its public role into
 * `file.pub.json`, which `educard-bridge keys releases --role` puts in the key set, signed by the root.
 */
export async function makeReleaseKey(file: string): Promise<{ keyId: string; publicRole: string }> {
  const pair = generateKeyPair();
  await writeFileDurable(file, `${JSON.stringify({ releases: [toBase64Url(pair.seed)] }, null, 2)}\n`, 0o600);
  const role = keyRole([pair]);
  const publicRole = `${file.replace(/\.json$/, '')}.pub.json`;
  await writeFileDurable(publicRole, `${JSON.stringify(role, null, 2)}\n`);
  return { keyId: role.keys[0]?.keyId as string, publicRole };
}
