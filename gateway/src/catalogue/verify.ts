import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type CatalogueItem,
  CatalogueManifest,
  type CatalogueRules,
  CatalogueSnapshot,
  KeyRole,
} from '@educard/terminal-sdk';
import { reject } from '../roster/errors.js';
import { ANCHOR, listDir, pad } from '../roster/store.js';
import {
  checkBodyBytes,
  parseJson,
  parseSchema,
  type VerifiedKeySet,
  verifyKeySet,
  verifyRosterSigned,
} from '../roster/verify.js';

/**
 * A catalogue is trusted exactly as the roster is (docs/gateway.md, "Roster: trust and storage"):
 * the pinned anchor, the chain of key sets, a manifest signed by the current roster-signing keys,
 * and a body that must match the manifest's length and SHA-256. The roster's own checks do the work;
 * refusals carry the roster's codes.
 */

/** Signature, schema and school of a catalogue manifest. */
export function verifyCatalogueManifest(
  bytes: Uint8Array,
  keys: VerifiedKeySet,
  school: string,
): CatalogueManifest {
  const manifest = verifyRosterSigned(bytes, keys, CatalogueManifest, 'catalogue manifest');
  if (manifest.school !== school)
    reject('wrong-school', `catalogue is for school ${manifest.school}, this device is in ${school}`);
  return manifest;
}

/** Length and digest first, then the body's schema and its agreement with the manifest. */
export function verifyCatalogueBody(
  manifest: CatalogueManifest,
  bytes: Uint8Array,
  maxBodyBytes: number,
): CatalogueSnapshot {
  checkBodyBytes(manifest.body, bytes, 'catalogue body');
  const body = parseSchema(
    CatalogueSnapshot,
    parseJson(bytes, 'catalogue body', maxBodyBytes),
    'catalogue body',
  );
  if (body.version !== manifest.version || body.school !== manifest.school)
    reject('inconsistent', 'catalogue body version or school differ from the manifest');
  const seen = new Set<string>();
  for (const item of body.items) {
    if (seen.has(item.itemId)) reject('inconsistent', `item ${item.itemId} appears twice in the catalogue`);
    seen.add(item.itemId);
  }
  return body;
}

/**
 * The key sets this device trusts, oldest first, verified from the pinned anchor: read from the
 * roster's directory, where the roster store keeps them. Empty when the device is not provisioned.
 */
export async function trustedKeySets(rosterDir: string): Promise<VerifiedKeySet[]> {
  const anchorText = await readFile(join(rosterDir, ANCHOR), 'utf8').catch(() => undefined);
  if (anchorText === undefined) return [];
  let root = KeyRole.parse(JSON.parse(anchorText));
  const chain: VerifiedKeySet[] = [];
  for (const version of (await listDir(rosterDir)).keysets) {
    const bytes = await readFile(join(rosterDir, `keyset-${pad(version)}.json`));
    try {
      const verified = verifyKeySet(bytes, root, chain.at(-1)?.keySet.version ?? 0);
      chain.push(verified);
      root = verified.keySet.root;
    } catch {
      break;
    }
  }
  return chain;
}

/** What a library station reads: lookups in memory. */
export interface CatalogueView {
  readonly version: number;
  readonly school: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly rules: CatalogueRules;
  readonly size: number;
  item(itemId: string): CatalogueItem | undefined;
}

export class CatalogueIndex implements CatalogueView {
  private readonly items = new Map<string, CatalogueItem>();
  readonly version: number;
  readonly school: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly rules: CatalogueRules;

  constructor(body: CatalogueSnapshot, manifest: CatalogueManifest) {
    this.version = body.version;
    this.school = body.school;
    this.issuedAt = Date.parse(manifest.issuedAt);
    this.expiresAt = Date.parse(manifest.expiresAt);
    this.rules = body.rules;
    for (const item of body.items) this.items.set(item.itemId, item);
  }

  get size(): number {
    return this.items.size;
  }

  item(itemId: string): CatalogueItem | undefined {
    return this.items.get(itemId);
  }
}
