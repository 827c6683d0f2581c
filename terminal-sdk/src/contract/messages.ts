import { z } from 'zod';
import { Base64Url, Identifier, IsoTime, Sha256Hex, SPEC_VERSION } from './common.js';
import { EventRecord, JournalLossCause } from './events.js';
import { DataFormats, ReleaseArch } from './release.js';
import { RosterVariant } from './roster.js';
import { SignatureSchema, SignedEnvelopeSchema } from './signed.js';

/** Every message names its contract version; a peer takes any message of its own major version. */
const Versioned = { v: z.literal(SPEC_VERSION) };

/** The largest message either side accepts: a batch of 500 records fits with room to spare. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * The device's storage as it stands, in its live state: what the journal cannot say while its disk is
 * full. A bridge of an earlier version strips the field it does not know.
 */
export const StorageState = z.object({
  /** Free space under the configured minimum, or the journal past 80% of its budget. */
  diskLow: z.boolean(),
  /** The last journal write failed: records wait in memory. */
  diskFull: z.boolean(),
  /** Records held in memory, not yet on disk, and the most that may be held. */
  held: z.number().int().nonnegative(),
  maxHeld: z.number().int().positive(),
  /** Records lost since the gateway started (the oldest held dropped past the bound). */
  lost: z.number().int().nonnegative(),
  freeBytes: z.number().int().nonnegative().optional(),
  /** Files moved to a quarantine folder: journal segments, roster files, small state. */
  quarantined: z.number().int().nonnegative(),
});
export type StorageState = z.infer<typeof StorageState>;

/**
 * A device's birth and death, after Sparkplug: `bdSeq` grows with every connection, and a death is
 * believed only when its bdSeq is not older than the latest birth, so a late will from a dropped
 * connection never marks a reconnected device offline.
 */
export const DeviceState = z.object({
  ...Versioned,
  device: Identifier,
  school: Identifier,
  online: z.boolean(),
  bdSeq: z.number().int().nonnegative(),
  at: IsoTime.optional(),
  firmware: z.string().max(64).optional(),
  rosterVersion: z.number().int().nonnegative().optional(),
  /** The roster variant its station takes (the bridge answers a sync with it); absent: the desk roster. */
  rosterVariant: RosterVariant.optional(),
  keySetVersion: z.number().int().nonnegative().optional(),
  journalBacklog: z.number().int().nonnegative().optional(),
  lastSeq: z.number().int().nonnegative().optional(),
  catalogueVersion: z.number().int().nonnegative().optional(),
  /**
   * In a birth: what the device asks the bridge to send on its `sync` topic (see SYNC_WANTS). Free
   * strings, so a bridge of the version before keeps taking births that ask for something new.
   */
  want: z.array(z.string().max(32)).max(16).optional(),
  storage: StorageState.optional(),
  /** What a rollout needs to know of the device: its CPU and the data formats its release reads and writes. */
  arch: ReleaseArch.optional(),
  formats: DataFormats.optional(),
  /**
   * The kind of station the device runs (STATION_KINDS: a school's lockdown is for its gates). A free
   * string, so a bridge of the version before keeps taking states that name a newer kind.
   */
  station: z.string().max(32).optional(),
});
export type DeviceState = z.infer<typeof DeviceState>;

/** A break in the device's chain that a batch declares (see EventBatch.lost). */
export const BatchLoss = z.object({
  firstSeq: z.number().int().positive(),
  lastSeq: z.number().int().positive(),
  cause: JournalLossCause,
  bound: z.boolean().optional(),
  damagedSeq: z.number().int().positive(),
});
export type BatchLoss = z.infer<typeof BatchLoss>;

/**
 * Journal records from `from` to `to`, in order. The device's key signs the canonical bytes of every
 * field but `records` and `sig`; `head`, the hash of record `to`, binds the records through the hash
 * chain, so a broker in the middle can neither forge nor alter events.
 */
export const EventBatch = z.looseObject({
  ...Versioned,
  device: Identifier,
  school: Identifier,
  from: z.number().int().positive(),
  to: z.number().int().positive(),
  /** The hash of record `to`: the chain head the device holds after this batch. */
  head: Sha256Hex,
  records: z.array(EventRecord).min(1).max(1000),
  sentAt: IsoTime,
  sig: Base64Url,
  /**
   * Records lost on the device just before `from` (`lastSeq` is `from - 1`): the chain goes on from
   * the first record's `prev`. The device's `journal.damaged` record `damagedSeq` explains it.
   */
  lost: BatchLoss.optional(),
});
export type EventBatch = z.infer<typeof EventBatch>;

/**
 * The QoS a gateway publishes its batches with (its `uplink.batch.qos`, told at enrollment). A batch
 * is sent again until acknowledged either way; QoS 1 also has the broker take it before the device
 * moves on, which on a NATS cluster is a replicated JetStream write per batch (docs/scale-out.md).
 */
export const BatchQos = z.union([z.literal(0), z.literal(1)]);
export type BatchQos = z.infer<typeof BatchQos>;

/** The bridge's word that every record up to `seq` is committed to its store. */
export const EventAck = z.object({
  ...Versioned,
  device: Identifier,
  seq: z.number().int().nonnegative(),
  hash: Sha256Hex,
  at: IsoTime,
});
export type EventAck = z.infer<typeof EventAck>;

export const COMMAND_NAMES = [
  'roster.reload',
  'door.open',
  'status.report',
  'log.level',
  'events.resend',
  'lockdown.set',
] as const;

/**
 * What every command carries. The bridge signs it (`signatures`, over the canonical bytes of the
 * command without them) with a key of the `commands` role of its key set, naming the one device it is
 * for and when it was issued; a device runs only a command so signed, for itself, not expired and not
 * seen before (terminal-sdk's verifyCommand). The fields are optional in the schema so that a peer of
 * the previous version, which sent and took commands without them, still parses; a current device
 * refuses a command that lacks them.
 */
const CommandBase = {
  ...Versioned,
  /** The correlation id: the result names it, and a device runs an id once. */
  id: z.string().min(1).max(64),
  expiresAt: IsoTime,
  device: Identifier.optional(),
  school: Identifier.optional(),
  issuedAt: IsoTime.optional(),
  signatures: z.array(SignatureSchema).min(1).max(16).optional(),
};

export const Command = z.discriminatedUnion('name', [
  z.object({ ...CommandBase, name: z.literal('roster.reload') }),
  z.object({
    ...CommandBase,
    name: z.literal('door.open'),
    args: z.object({ seconds: z.number().int().min(1).max(600) }),
  }),
  z.object({ ...CommandBase, name: z.literal('status.report') }),
  z.object({
    ...CommandBase,
    name: z.literal('log.level'),
    args: z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']) }),
  }),
  z.object({
    ...CommandBase,
    name: z.literal('events.resend'),
    args: z.object({ fromSeq: z.number().int().positive() }),
  }),
  /**
   * The school's lockdown, as the bridge holds it: on (entries refused) or off. `version` counts the
   * school's lockdown changes, so a device never goes back to an older one (a delayed or replayed
   * order). Sent live to each device of the school, and in the answer to every birth that asks.
   */
  z.object({
    ...CommandBase,
    name: z.literal('lockdown.set'),
    args: z.object({
      active: z.boolean(),
      version: z.number().int().positive(),
      reason: z.string().max(200).optional(),
    }),
  }),
]);
export type Command = z.infer<typeof Command>;

export const CommandResult = z.object({
  ...Versioned,
  id: z.string().min(1).max(64),
  status: z.enum(['ok', 'error', 'expired', 'unknown']),
  data: z.record(z.string(), z.unknown()).optional(),
  error: z.string().max(1024).optional(),
  at: IsoTime,
});
export type CommandResult = z.infer<typeof CommandResult>;

export const RosterKeySetsMessage = z.object({
  ...Versioned,
  keySets: z.array(SignedEnvelopeSchema).min(1).max(64),
});
export type RosterKeySetsMessage = z.infer<typeof RosterKeySetsMessage>;

/** The latest snapshot's manifest; the body is at `url` on the bridge (relative to its HTTP base). */
export const RosterSnapshotMessage = z.object({
  ...Versioned,
  manifest: SignedEnvelopeSchema,
  url: z.string().min(1).max(512),
});
export type RosterSnapshotMessage = z.infer<typeof RosterSnapshotMessage>;

/** A delta with its body, small enough to travel in the message itself. */
export const RosterDeltaMessage = z.object({
  ...Versioned,
  manifest: SignedEnvelopeSchema,
  body: z.string().max(MAX_MESSAGE_BYTES),
});
export type RosterDeltaMessage = z.infer<typeof RosterDeltaMessage>;

/**
 * Parses a message payload: size cap, JSON, schema. Never throws; the caller logs the reason and
 * carries on. `raw` is the JSON as received, for checks that must see fields this peer does not know.
 */
export function parseMessage<T>(
  schema: z.ZodType<T>,
  payload: Uint8Array,
): { ok: true; value: T; raw: Record<string, unknown> } | { ok: false; error: string } {
  if (payload.length > MAX_MESSAGE_BYTES)
    return { ok: false, error: `message of ${payload.length} bytes is over ${MAX_MESSAGE_BYTES}` };
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch {
    return { ok: false, error: 'message is not JSON' };
  }
  const version = (value as { v?: unknown } | null)?.v;
  if (version !== undefined && version !== SPEC_VERSION) {
    // JSON.stringify, not String(): a peer's `{"toString": ""}` must not throw out of a parser.
    return {
      ok: false,
      error: `message is contract version ${JSON.stringify(version).slice(0, 40)}, this peer speaks ${SPEC_VERSION}`,
    };
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    return {
      ok: false,
      error: result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, value: result.data, raw: value as Record<string, unknown> };
}
