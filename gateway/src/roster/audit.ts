import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KeyRole, type RosterManifest } from '@educard/terminal-sdk';
import { createLogger } from '../log/index.js';
import { RosterRejected } from './errors.js';
import { ANCHOR, DEFAULT_MAX_BODY_BYTES, fileName, listDir, pad, RosterStore } from './store.js';
import {
  keyMap,
  type ManifestScope,
  type VerifiedKeySet,
  verifyBody,
  verifyKeySet,
  verifyManifest,
} from './verify.js';

/** One stored file (or a manifest and its body, as one), and what checking it found. */
export interface RosterFileCheck {
  file: string;
  ok: boolean;
  /** What it is, when it verified: "version 3, 1,204 cards". */
  detail?: string;
  /** Why it does not verify, with the rejection code first when there is one. */
  problem?: string;
}

/** What the roster store would hold if the gateway started now. */
export interface RosterLoad {
  version: number;
  school: string;
  cards: number;
  issuedAt: string;
  expiresAt: string;
  expired: boolean;
  keySetVersion: number;
}

export interface RosterAudit {
  dir: string;
  provisioned: boolean;
  files: RosterFileCheck[];
  /** Nothing when no roster would load. */
  loads: RosterLoad | undefined;
  /** Harmless findings: a leftover body or temporary file, a store warning. */
  warnings: string[];
  /** What makes the check fail: a file that does not verify, or no roster to load. */
  problems: string[];
  ok: boolean;
}

export interface RosterAuditOptions extends ManifestScope {
  dir: string;
  now?: () => number;
  maxBodyBytes?: number;
}

/** Reads (and so checks) every card of a verified snapshot, one at a time. */
function countCards(cards: Iterable<unknown>): number {
  let count = 0;
  for (const _card of cards) count++;
  return count;
}

const describe = (error: unknown) =>
  error instanceof RosterRejected ? error.message : `unreadable: ${(error as Error).message}`;

/** What the store logged at warn or above while loading, as "message (version 3: reason)". */
function collectingLogger(into: string[]) {
  return createLogger('educard', {
    level: 'warn',
    destination: {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg: string; version?: number; reason?: string };
        const context = [entry.version === undefined ? '' : `version ${entry.version}`, entry.reason ?? '']
          .filter(Boolean)
          .join(': ');
        into.push(context ? `${entry.msg} (${context})` : entry.msg);
      },
    } as never,
  });
}

/**
 * Opens the roster the way the gateway does at start, collecting what the store warns about instead
 * of logging it. Loading writes nothing, so this is safe while the gateway runs on the same files.
 */
export async function loadRoster(
  options: RosterAuditOptions,
): Promise<{ store: RosterStore | undefined; warnings: string[] }> {
  const warnings: string[] = [];
  try {
    const store = await RosterStore.open({
      dir: options.dir,
      school: options.school,
      device: options.device,
      logger: collectingLogger(warnings),
      now: options.now ?? Date.now,
      ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
      readOnly: true,
    });
    return { store, warnings };
  } catch (error) {
    warnings.push(`the roster store does not open: ${(error as Error).message}`);
    return { store: undefined, warnings };
  }
}

/**
 * Re-verifies a roster directory from its pinned anchor without writing to it: the key set chain,
 * each manifest against the key sets this device trusted, each body against its manifest, and then
 * what the store would load at start. Every file is checked, not only the ones a start would read.
 */
export async function auditRoster(options: RosterAuditOptions): Promise<RosterAudit> {
  const { dir } = options;
  const now = options.now ?? Date.now;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const audit: RosterAudit = {
    dir,
    provisioned: false,
    files: [],
    loads: undefined,
    warnings: [],
    problems: [],
    ok: false,
  };
  const fail = (file: string, problem: string) => {
    audit.files.push({ file, ok: false, problem });
    audit.problems.push(`${file}: ${problem}`);
  };
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!names) {
    audit.problems.push(`there is no roster directory ${dir}: the device is not provisioned`);
    return audit;
  }

  let root: KeyRole | undefined;
  const anchorText = await readFile(join(dir, ANCHOR), 'utf8').catch(() => undefined);
  if (anchorText === undefined) {
    fail(ANCHOR, 'missing: the device is not provisioned with its root keys');
  } else {
    try {
      root = KeyRole.parse(JSON.parse(anchorText));
      keyMap(root);
      audit.provisioned = true;
      audit.files.push({
        file: ANCHOR,
        ok: true,
        detail: `${root.keys.length} root key(s), threshold ${root.threshold}`,
      });
    } catch (error) {
      root = undefined;
      fail(ANCHOR, `not a valid key role: ${(error as Error).message.slice(0, 300)}`);
    }
  }

  const listing = await listDir(dir);
  const keySets: VerifiedKeySet[] = [];
  let chainBroken = root === undefined;
  for (const version of listing.keysets) {
    const file = `keyset-${pad(version)}.json`;
    if (chainBroken) {
      fail(file, 'not trusted: it follows an anchor or key set that does not verify');
      continue;
    }
    try {
      const trusted = keySets.at(-1);
      const verified = verifyKeySet(
        await readFile(join(dir, file)),
        trusted?.keySet.root ?? (root as KeyRole),
        trusted?.keySet.version ?? 0,
      );
      if (verified.keySet.version !== version) {
        throw new Error(`holds version ${verified.keySet.version}, its name says ${version}`);
      }
      keySets.push(verified);
      audit.files.push({ file, ok: true, detail: `version ${version}` });
    } catch (error) {
      chainBroken = true;
      fail(file, describe(error));
    }
  }
  if (root && keySets.length === 0)
    audit.problems.push('no roster key set: the device cannot verify a roster');

  const verifyStored = async (kind: 'snapshot' | 'delta', version: number) => {
    const file = `${kind}-${pad(version)}`;
    try {
      const manifestBytes = await readFile(join(dir, fileName(kind, version, 'manifest')));
      let manifest: RosterManifest | undefined;
      let lastError: unknown = new RosterRejected('unknown-key', 'no roster key set is trusted');
      for (const keys of [...keySets].reverse()) {
        try {
          manifest = verifyManifest(manifestBytes, keys, options);
          break;
        } catch (error) {
          lastError = error;
        }
      }
      if (!manifest) throw lastError;
      if (manifest.version !== version || manifest.body.kind !== kind) {
        throw new Error(
          `holds a ${manifest.body.kind} of version ${manifest.version}, its name says ${kind} ${version}`,
        );
      }
      const bodyBytes = await readFile(join(dir, fileName(kind, version, 'body'))).catch(
        (error: NodeJS.ErrnoException) => {
          throw new Error(error.code === 'ENOENT' ? 'its body file is missing' : error.message);
        },
      );
      const body = verifyBody(manifest, bodyBytes, maxBodyBytes);
      const expired = Date.parse(manifest.expiresAt) <= now();
      const size =
        body.kind === 'snapshot' ? `${countCards(body.cards)} cards` : `${body.changes.length} change(s)`;
      audit.files.push({
        file,
        ok: true,
        detail: `version ${version}${kind === 'delta' ? ` from ${manifest.body.fromVersion}` : ''}, ${size}, expires ${manifest.expiresAt}${expired ? ' (expired)' : ''}`,
      });
    } catch (error) {
      fail(file, describe(error));
    }
  };
  for (const version of [...listing.snapshots].reverse()) await verifyStored('snapshot', version);
  for (const version of listing.deltas) await verifyStored('delta', version);

  for (const name of names) {
    if (name.startsWith('.') && name.endsWith('.tmp')) {
      audit.warnings.push(`${name}: a temporary file left by a write cut short (harmless)`);
    }
    const body = /^(snapshot|delta)-(\d{10})\.body\.json$/.exec(name);
    if (body) {
      const versions = body[1] === 'snapshot' ? listing.snapshots : listing.deltas;
      if (!versions.includes(Number(body[2]))) {
        audit.warnings.push(`${name}: a body without its manifest, left by a removal cut short (harmless)`);
      }
    }
  }

  // What a start would load: the store itself, on the same files; it writes nothing while loading.
  const { store, warnings: logged } = await loadRoster({ ...options, now, maxBodyBytes });
  const view = store?.view;
  if (store && view) {
    audit.loads = {
      version: view.version,
      school: view.school,
      cards: view.size,
      issuedAt: new Date(view.issuedAt).toISOString(),
      expiresAt: new Date(view.expiresAt).toISOString(),
      expired: view.expiresAt <= now(),
      keySetVersion: store.keySetVersion,
    };
  }
  audit.warnings.push(...logged.filter((line) => !line.startsWith('no roster trust anchor')));
  const newest = Math.max(0, ...listing.snapshots, ...listing.deltas);
  if (!audit.loads) {
    if (audit.provisioned) audit.problems.push('no roster would load: the gateway would deny every card');
  } else if (audit.loads.version < newest) {
    audit.problems.push(`version ${newest} is on disk, but only version ${audit.loads.version} would load`);
  }
  audit.ok = audit.problems.length === 0;
  return audit;
}
