import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canonicalString,
  countValidSignatures,
  describeIssues,
  type Ed25519KeyPair,
  ed25519,
  fromBase64Url,
  generateKeyPair,
  issueKeySet,
  type KeyRole,
  keyIdOf,
  keyRole,
  RosterKeySet,
  type RosterKeySetsMessage,
  SignedEnvelopeSchema,
  SPEC_VERSION,
  toBase64Url,
} from '@educard/terminal-sdk';
import { writeFileDurable } from '@educard/terminal-sdk/files';
import { z } from 'zod';

export const ROSTER_KEYS_FILE = 'roster-keys.json';
/** A rotation prepared and not yet committed: its unsigned key set and the new keys' seeds, mode 0600. */
export const PENDING_ROTATION_FILE = 'roster-keys-pending.json';
const FOLLOW_EVERY_MS = 500;

export interface RosterKeys {
  /**
   * The root key pairs, held only by a bridge that made its own keys on first start (development,
   * tests, the demo). A bridge set up with `educard-bridge init` has none: the root stays offline.
   */
  root: Ed25519KeyPair[];
  /** The online roster-signing keys: those the latest key set names. */
  roster: Ed25519KeyPair[];
  /**
   * The online command-signing keys: those the latest key set's `commands` role names; none for a
   * bridge whose key sets predate the role, until its next rotation.
   */
  commands: Ed25519KeyPair[];
  /** Every key set issued, oldest first (each a signed envelope, as JSON). */
  keySets: string[];
  /**
   * The secret each school's uid key is made from (uidKeyOf): gate rosters hold UIDs hashed under it.
   * Kept across key rotations, since a gate's deltas must hash as its snapshot did.
   */
  uidSecret?: Uint8Array;
}

const Seed = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a 32-byte seed in base64url');

/** `dataDir/roster-keys.json`, mode 0600. `root` is absent (or empty) when the root key is kept offline. */
const StoredKeys = z.object({
  root: z.array(Seed).optional(),
  roster: z.array(Seed).min(1),
  commands: z.array(Seed).optional(),
  keySets: z.array(z.string()).min(1),
  uidSecret: Seed.optional(),
});
type StoredKeys = z.infer<typeof StoredKeys>;

/** The root key file a technician keeps offline: `{"root": ["<base64url seed>"]}` (roster-keys.json has the same field). */
export const RootKeyFile = z.object({ root: z.array(Seed).min(1, 'it holds no root key').max(16) });

const pair = (seed: string) => ed25519.keyPairFromSeed(fromBase64Url(seed));
const seedOf = (key: Ed25519KeyPair) => toBase64Url(key.seed);

export const rosterKeysPath = (dataDir: string) => join(dataDir, ROSTER_KEYS_FILE);

function toStored(keys: RosterKeys): StoredKeys {
  return {
    ...(keys.root.length ? { root: keys.root.map(seedOf) } : {}),
    roster: keys.roster.map(seedOf),
    ...(keys.commands.length ? { commands: keys.commands.map(seedOf) } : {}),
    keySets: keys.keySets,
    ...(keys.uidSecret ? { uidSecret: toBase64Url(keys.uidSecret) } : {}),
  };
}

export const rosterKeysJson = (keys: RosterKeys) => `${JSON.stringify(toStored(keys), null, 2)}\n`;

/** Key set 1 with a fresh root, roster and command key; the caller decides where the root goes. */
export function newRosterKeys(issuedAt = new Date()): { root: Ed25519KeyPair[]; keys: RosterKeys } {
  const root = [generateKeyPair()];
  const roster = [generateKeyPair()];
  const commands = [generateKeyPair()];
  const keySet = issueKeySet({
    version: 1,
    issuedAt: issuedAt.toISOString(),
    root: keyRole(root),
    roster: keyRole(roster),
    commands: keyRole(commands),
    signers: root,
  });
  return {
    root,
    keys: {
      root: [],
      roster,
      commands,
      keySets: [Buffer.from(keySet).toString('utf8')],
      uidSecret: randomBytes(32),
    },
  };
}

/** Reads `dataDir/roster-keys.json`; undefined when there is none. */
export async function loadRosterKeys(dataDir: string): Promise<RosterKeys | undefined> {
  const path = rosterKeysPath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseRosterKeys(text, path);
}

function parseRosterKeys(text: string, path: string): RosterKeys {
  let stored: StoredKeys;
  try {
    const parsed = StoredKeys.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(describeIssues(parsed.error));
    stored = parsed.data;
  } catch (error) {
    throw new Error(`${path} is not a roster key file: ${(error as Error).message}`);
  }
  return {
    root: (stored.root ?? []).map(pair),
    roster: stored.roster.map(pair),
    commands: (stored.commands ?? []).map(pair),
    keySets: stored.keySets,
    ...(stored.uidSecret ? { uidSecret: fromBase64Url(stored.uidSecret) } : {}),
  };
}

export function saveRosterKeys(dataDir: string, keys: RosterKeys): Promise<void> {
  return writeFileDurable(rosterKeysPath(dataDir), rosterKeysJson(keys), 0o600);
}

/**
 * The bridge's roster keys from `dataDir/roster-keys.json`. A bridge set up without
 * `educard-bridge init` (development, tests, the demo) makes its root and roster keys and key set 1
 * there on first start, the root seed included.
 */
export async function loadOrCreateRosterKeys(dataDir: string, now = new Date()): Promise<RosterKeys> {
  const loaded = await loadRosterKeys(dataDir);
  if (loaded) return loaded;
  const { root, keys } = newRosterKeys(now);
  const made = { ...keys, root };
  await saveRosterKeys(dataDir, made);
  return made;
}

/** Reads root key pairs from a root key file (or from a roster-keys.json that holds its root). */
export function parseRootKeyFile(text: string): Ed25519KeyPair[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`not JSON (${(error as Error).message})`);
  }
  const held = (value as { root?: unknown; roster?: unknown } | null) ?? {};
  if (
    held.roster !== undefined &&
    (held.root === undefined || (Array.isArray(held.root) && !held.root.length))
  )
    throw new Error(
      "it is a bridge's roster key file without the root key (init writes the root key elsewhere)",
    );
  const parsed = RootKeyFile.safeParse(value);
  if (!parsed.success) throw new Error(describeIssues(parsed.error));
  return parsed.data.root.map(pair);
}

export const rootKeyFileJson = (root: Ed25519KeyPair[]) =>
  `${JSON.stringify({ root: root.map(seedOf) }, null, 2)}\n`;

/** A key set refused by the bridge: 409 when it is not the rotation in progress, 422 when it does not verify. */
export class KeySetRefused extends Error {
  constructor(
    readonly status: 400 | 409 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'KeySetRefused';
  }
}

interface PendingRotation {
  id: string;
  /** The next roster key; absent when the roster key stays (a change of the release keys). */
  key?: Ed25519KeyPair;
  /** The next command key: it rotates with the roster key, and stays when only the release keys change. */
  commandKey?: Ed25519KeyPair;
  keySet: RosterKeySet;
}

const StoredPending = z.object({
  id: z.string().min(1).max(64),
  keySet: RosterKeySet,
  key: Seed.optional(),
  commandKey: Seed.optional(),
});

const pendingPath = (dataDir: string) => join(dataDir, PENDING_ROTATION_FILE);

function savePending(dataDir: string, pending: PendingRotation): Promise<void> {
  const stored: z.input<typeof StoredPending> = {
    id: pending.id,
    keySet: pending.keySet,
    ...(pending.key ? { key: seedOf(pending.key) } : {}),
    ...(pending.commandKey ? { commandKey: seedOf(pending.commandKey) } : {}),
  };
  return writeFileDurable(pendingPath(dataDir), `${JSON.stringify(stored, null, 2)}\n`, 0o600);
}

/**
 * The rotation prepared, by any instance sharing `dataDir`: undefined when none is, `damaged` (why)
 * when its file cannot be read as one.
 */
function readPending(dataDir: string): PendingRotation | { damaged: string } | undefined {
  let text: string;
  try {
    text = readFileSync(pendingPath(dataDir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { damaged: (error as Error).message };
  }
  let stored: z.infer<typeof StoredPending>;
  try {
    const parsed = StoredPending.safeParse(JSON.parse(text));
    if (!parsed.success) return { damaged: describeIssues(parsed.error) };
    stored = parsed.data;
  } catch (error) {
    return { damaged: (error as Error).message };
  }
  return {
    id: stored.id,
    keySet: stored.keySet,
    ...(stored.key ? { key: pair(stored.key) } : {}),
    ...(stored.commandKey ? { commandKey: pair(stored.commandKey) } : {}),
  };
}

const parseKeySet = (text: string) => RosterKeySet.parse((JSON.parse(text) as { signed: unknown }).signed);

function roleKeys(role: KeyRole): Map<string, Uint8Array> {
  return new Map(role.keys.map((k) => [k.keyId, fromBase64Url(k.publicKey)]));
}

/**
 * The bridge's roster keys and their rotation. The bridge makes the next roster key itself and never
 * lets its seed out; the root key that must sign the next key set stays with the technician. A
 * rotation is prepared (the unsigned next key set, written with the new keys' seeds beside the key
 * file, so that any instance sharing `dataDir` may commit it, after a restart too), signed offline,
 * and committed: verified, written durably, and only then in force. The previous roster key is
 * retired in the same step.
 */
export class RosterKeyring {
  /** The key file as this instance last took it (its inode, size and time), and when it last looked. */
  private fileSeen: string | undefined;
  private lookedAt = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly dataDir: string,
    private keys: RosterKeys,
    /** The clock key sets are issued by (the bridge's). */
    private readonly now: () => Date = () => new Date(),
  ) {
    this.fileSeen = this.fileStamp();
  }

  private fileStamp(): string | undefined {
    try {
      const { ino, size, mtimeMs } = statSync(rosterKeysPath(this.dataDir));
      return `${ino}:${size}:${mtimeMs}`;
    } catch {
      return undefined;
    }
  }

  /**
   * Instances sharing a `dataDir` (one host, or a shared volume) share the key file: a key set another
   * instance committed is taken before this one signs again, since the roster key it retired is no
   * longer trusted by the gates that took the new set. At most once every 500 ms: a stat.
   */
  private follow(now = false): RosterKeys {
    const at = performance.now();
    if (!now && at - this.lookedAt < FOLLOW_EVERY_MS) return this.keys;
    this.lookedAt = at;
    const stamp = this.fileStamp();
    if (stamp === undefined || stamp === this.fileSeen) return this.keys;
    this.fileSeen = stamp;
    const path = rosterKeysPath(this.dataDir);
    let onFile: RosterKeys;
    try {
      onFile = parseRosterKeys(readFileSync(path, 'utf8'), path);
    } catch (error) {
      // The keys in force stay: signing goes on, and the file is read again once it changes.
      this.follower?.unreadable((error as Error).message);
      return this.keys;
    }
    if (onFile.keySets.length > this.keys.keySets.length) {
      this.keys = onFile;
      this.follower?.taken(this.version);
    }
    return this.keys;
  }

  /** Told when a key set another instance committed is taken, and when the key file cannot be read. */
  follower: { taken(version: number): void; unreadable(message: string): void } | undefined;

  static async open(dataDir: string, now?: () => Date): Promise<RosterKeyring> {
    let keys = await loadOrCreateRosterKeys(dataDir, now?.());
    if (!keys.uidSecret) {
      // A key file from before gate rosters hashed UIDs: its secret is made once and kept.
      keys = { ...keys, uidSecret: randomBytes(32) };
      await saveRosterKeys(dataDir, keys);
    }
    return new RosterKeyring(dataDir, keys, now);
  }

  /** For tests and tools that hold keys in memory. */
  static of(dataDir: string, keys: RosterKeys): RosterKeyring {
    return new RosterKeyring(dataDir, keys);
  }

  /** The key a school's gate rosters hash UIDs under: the same for the school whatever key set is in force. */
  uidKey(school: string): Uint8Array {
    return this.schoolKey('uid', school);
  }

  /**
   * The key a school's gate rosters name persons under (personPseudonym). Unlike the uid key it never
   * leaves the bridge: a gate only holds the pseudonyms, which the bridge maps back at ingest.
   */
  personKey(school: string): Uint8Array {
    return this.schoolKey('person', school);
  }

  private schoolKey(purpose: 'uid' | 'person', school: string): Uint8Array {
    if (!this.keys.uidSecret) this.keys = { ...this.keys, uidSecret: randomBytes(32) };
    return createHmac('sha256', this.keys.uidSecret as Uint8Array)
      .update(`educard ${purpose} key\0${school}`)
      .digest();
  }

  /** The keys that sign rosters and enrollment answers now. */
  get signers(): Ed25519KeyPair[] {
    return this.follow().roster;
  }

  /** The keys that sign device commands now; none until the key sets name a `commands` role. */
  get commandSigners(): Ed25519KeyPair[] {
    return this.follow().commands;
  }

  get keySets(): readonly string[] {
    return this.follow().keySets;
  }

  /** Every key set, as the key-set topics carry them. */
  get keySetsMessage(): RosterKeySetsMessage {
    return { v: SPEC_VERSION, keySets: this.follow().keySets.map((k) => JSON.parse(k)) };
  }

  get version(): number {
    return this.follow().keySets.length;
  }

  get latest(): RosterKeySet {
    return parseKeySet(this.follow().keySets.at(-1) as string);
  }

  /** The root key role of key set 1: what a device pins as its trust anchor. */
  get anchor(): KeyRole {
    return parseKeySet(this.keys.keySets[0] as string).root;
  }

  /** Whether the root seed is on this bridge (keys made on first start, not by `init`). */
  get rootOnBridge(): boolean {
    return this.keys.root.length > 0;
  }

  get pendingRotation(): { id: string; rosterKeyId: string } | undefined {
    const pending = readPending(this.dataDir);
    if (!pending || 'damaged' in pending) return undefined;
    return {
      id: pending.id,
      rosterKeyId: keyIdOf((pending.key ?? (this.keys.roster[0] as Ed25519KeyPair)).publicKey),
    };
  }

  /**
   * The next key set, unsigned: every role of the latest as it is, but for a new roster key and a new
   * command key, each the only key of its role (a bridge whose key sets predate the `commands` role
   * gets one this way), and the card issuers in force unless `cardIssuers` names others (`null`: none).
   * Replaces any rotation pending.
   */
  async prepareRotation(options: { now?: Date; cardIssuers?: KeyRole | null } = {}): Promise<{
    pendingId: string;
    keySet: RosterKeySet;
  }> {
    this.follow(true);
    const key = generateKeyPair();
    const commandKey = generateKeyPair();
    const { cardIssuers: inForce, ...latest } = this.latest;
    const issuers = options.cardIssuers === undefined ? inForce : options.cardIssuers;
    const keySet: RosterKeySet = {
      ...latest,
      type: 'roster-keyset',
      spec: SPEC_VERSION,
      version: this.version + 1,
      issuedAt: (options.now ?? this.now()).toISOString(),
      roster: keyRole([key]),
      commands: keyRole([commandKey]),
      ...(issuers ? { cardIssuers: issuers } : {}),
    };
    return this.pend({ key, commandKey, keySet });
  }

  /**
   * The next key set, unsigned, with `releases` as the keys that sign gateway software: every other
   * role (root, roster, commands, card issuers) as it is. Committed like a roster key rotation, once the root has signed it offline.
   */
  async prepareReleaseKeys(
    releases: KeyRole,
    now = new Date(),
  ): Promise<{ pendingId: string; keySet: RosterKeySet }> {
    this.follow(true);
    const keySet: RosterKeySet = {
      ...this.latest,
      version: this.version + 1,
      issuedAt: now.toISOString(),
      releases,
    };
    return this.pend({ keySet });
  }

  /** Writes a rotation as the one pending, in place of any other: any instance sharing `dataDir` may commit it. */
  private async pend(
    rotation: Omit<PendingRotation, 'id'>,
  ): Promise<{ pendingId: string; keySet: RosterKeySet }> {
    const pending = { id: randomBytes(12).toString('base64url'), ...rotation };
    await savePending(this.dataDir, pending);
    return { pendingId: pending.id, keySet: pending.keySet };
  }

  /**
   * Verifies the signed next key set against the rotation prepared (same document, signed by the
   * threshold of the current root keys and of its own), writes the keys durably with the new roster
   * key in force and the old one gone, and only then takes it. Whatever is refused changes nothing.
   */
  async commitKeySet(
    pendingId: string,
    envelope: unknown,
  ): Promise<{ version: number; rosterKeyIds: string[]; retiredKeyIds: string[] }> {
    this.follow(true);
    const pending = readPending(this.dataDir);
    if (pending && 'damaged' in pending) {
      throw new KeySetRefused(
        409,
        `the prepared rotation's file ${PENDING_ROTATION_FILE} cannot be read (${pending.damaged}): run the rotation again`,
      );
    }
    if (!pending || pending.id !== pendingId) {
      throw new KeySetRefused(
        409,
        `rotation ${pendingId} is not the one in progress (another was prepared or committed since): run the rotation again`,
      );
    }
    // A key set committed since the preparation (a crash between the commit and the removal of the
    // rotation's file) has taken its version.
    if (pending.keySet.version !== this.version + 1) {
      throw new KeySetRefused(
        409,
        `rotation ${pendingId} was prepared as key set ${pending.keySet.version}, and key set ${this.version} is in force: run the rotation again`,
      );
    }
    const parsed = SignedEnvelopeSchema.safeParse(envelope);
    if (!parsed.success)
      throw new KeySetRefused(400, `not a signed key set: ${describeIssues(parsed.error)}`);
    if (canonicalString(parsed.data.signed) !== canonicalString(pending.keySet)) {
      throw new KeySetRefused(422, 'the signed key set is not the one prepared: sign it as it was given');
    }
    const current = this.latest;
    for (const [role, what] of [
      [current.root, `the root keys of key set ${current.version}`],
      [pending.keySet.root, `the root keys of key set ${pending.keySet.version}`],
    ] as const) {
      const valid = countValidSignatures(parsed.data, roleKeys(role));
      if (valid < role.threshold) {
        throw new KeySetRefused(
          422,
          `the key set has ${valid} valid signature(s) from ${what}, ${role.threshold} needed: sign it with this bridge's root key file`,
        );
      }
    }
    const roster = pending.key ? [pending.key] : this.keys.roster;
    const next: RosterKeys = {
      root: this.keys.root,
      roster,
      commands: pending.commandKey ? [pending.commandKey] : this.keys.commands,
      keySets: [...this.keys.keySets, JSON.stringify(parsed.data)],
      ...(this.keys.uidSecret ? { uidSecret: this.keys.uidSecret } : {}),
    };
    await saveRosterKeys(this.dataDir, next);
    await rm(pendingPath(this.dataDir), { force: true });
    const retiredKeyIds = pending.key ? this.keys.roster.map((k) => keyIdOf(k.publicKey)) : [];
    this.keys = next;
    this.fileSeen = this.fileStamp();
    return { version: this.version, rosterKeyIds: roster.map((k) => keyIdOf(k.publicKey)), retiredKeyIds };
  }
}
