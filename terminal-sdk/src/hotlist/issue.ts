import { SPEC_VERSION } from '../contract/common.js';
import type { HotlistManifest } from '../contract/hotlist.js';
import { signDocument } from '../contract/signed.js';
import { type Ed25519KeyPair, ed25519 } from '../crypto/ed25519.js';
import { sha256Hex } from '../crypto/encoding.js';
import { parseHotlistHeader } from './format.js';

export interface IssuedHotlist {
  manifest: Uint8Array;
  body: Uint8Array;
}

/** Signs an encoded hotlist body the roster's way: only the small manifest with its digest is signed. */
export function issueHotlist(
  body: Uint8Array,
  input: { issuedAt: string; expiresAt: string; keySetVersion: number; signers: Ed25519KeyPair[] },
): IssuedHotlist {
  const header = parseHotlistHeader(body);
  const manifest: HotlistManifest = {
    type: 'hotlist-manifest',
    spec: SPEC_VERSION,
    version: header.version,
    issuedAt: input.issuedAt,
    expiresAt: input.expiresAt,
    keySetVersion: input.keySetVersion,
    body: {
      kind: header.kind,
      ...(header.kind === 'delta' ? { fromVersion: header.fromVersion } : {}),
      sha256: sha256Hex(body),
      length: body.length,
      entries: header.count,
    },
  };
  return {
    manifest: Buffer.from(JSON.stringify(signDocument(manifest, input.signers, ed25519)), 'utf8'),
    body,
  };
}
