import { z } from 'zod';
import { Identifier, IsoDate, IsoTime, KeyId, Sha256Hex, SPEC_VERSION } from './common.js';
import { CardStatus, Role } from './roster.js';
import {
  LabBookingData,
  LabSignInData,
  LabSignOutData,
  LibraryCheckoutData,
  LibraryRenewData,
  LibraryReturnData,
} from './stations.js';

/** Why a tap was denied. Each has a test in the gateway's policy suite. */
export const DENY_REASONS = [
  'unknown-card',
  'lost',
  'cancelled',
  'suspended',
  /** A card cancelled here because its holder moved to another school (CardEntry.statusReason). */
  'transferred',
  'not-yet-valid',
  'expired',
  'not-in-zone',
  'outside-schedule',
  'roster-stale',
  'no-roster',
  'clock-untrusted',
  'passback',
  'card-auth-failed',
  'card-unreadable',
  'card-removed',
  // At a venue, which admits a card by its certificate (docs/venues.md):
  /** A card that showed only its UID: a venue admits no card it cannot check. */
  'uid-only-card',
  /** A certificate signed by an issuer the key set does not name. */
  'unknown-issuer',
  'no-hotlist',
  /** The hotlist in force expired longer ago than the venue's grace: it may be frozen by an attacker. */
  'hotlist-stale',
  'venue-closed',
  'venue-full',
  /** A pupil of a class booked today, before a teacher of the class has tapped to admit it. */
  'class-not-admitted',
  /** An entry while the gate's lockdown input is on (exits are never refused for it). */
  'lockdown',
] as const;
export const DenyReason = z.enum(DENY_REASONS);
export type DenyReason = z.infer<typeof DenyReason>;

/** Facts about a grant that someone should see later: a soft anti-passback breach, a grace period. */
export const DECISION_FLAGS = [
  'passback-soft',
  'roster-grace',
  'clock-fallback',
  'uid-only',
  'hotlist-grace',
] as const;
export const DecisionFlag = z.enum(DECISION_FLAGS);
export type DecisionFlag = z.infer<typeof DecisionFlag>;

export const Direction = z.enum(['in', 'out', 'none']);
export type Direction = z.infer<typeof Direction>;

export const GateDecisionData = z.object({
  station: Identifier,
  reader: z.string().max(128),
  zone: Identifier,
  direction: Direction,
  /** The card number, or the UID of a card the roster does not know. Journaled in full; never logged. */
  cardId: z.string().max(64),
  credential: z.enum(['uid', 'edu-cpu']),
  personId: Identifier.optional(),
  role: Role.optional(),
  cardStatus: CardStatus.optional(),
  decision: z.enum(['grant', 'deny']),
  reason: z.union([z.literal('ok'), DenyReason]),
  flags: z.array(DecisionFlag),
  rosterVersion: z.number().int().nonnegative(),
});
export type GateDecisionData = z.infer<typeof GateDecisionData>;

export const DoorAlarmData = z.object({
  station: Identifier,
  zone: Identifier,
  openForMs: z.number().int().nonnegative(),
});
/** An event of a station that says nothing but where it happened. */
const StationZoneData = z.object({ station: Identifier, zone: Identifier });
export const ExitRequestData = StationZoneData;
/**
 * The door held unlocked by the emergency release input (a fire panel's contact, a break-glass): from
 * `door.emergency-release` until `door.emergency-restored`, which says how long it lasted.
 */
export const EmergencyReleaseData = StationZoneData;
export const EmergencyRestoredData = z.object({
  station: Identifier,
  zone: Identifier,
  releasedForMs: z.number().int().nonnegative(),
});
/**
 * What put a gate in lockdown, or lifted it: its lockdown switch (`source` absent, or `switch`), or the
 * bridge's `lockdown.set` for the school (`bridge`, with that order's version and reason).
 */
const LockdownSource = {
  source: z.enum(['switch', 'bridge']).optional(),
  version: z.number().int().positive().optional(),
};
/** Entries refused from `gate.lockdown` to `gate.lockdown-lifted`. */
export const LockdownData = StationZoneData.extend({
  ...LockdownSource,
  reason: z.string().max(200).optional(),
});
export const LockdownLiftedData = StationZoneData.extend({
  ...LockdownSource,
  lockedForMs: z.number().int().nonnegative(),
});
export const RemoteOpenData = z.object({
  station: Identifier,
  zone: Identifier,
  seconds: z.number().int().positive(),
  command: z.string().max(64),
});
export const DiskLowData = z.object({
  freeBytes: z.number().int().nonnegative(),
  budgetBytes: z.number().int().positive(),
});
/** A reader driver's failure (a reader gone wrong, or pcscd itself): the gate may be deaf. */
export const ReaderFaultData = z.object({
  reader: z.string().max(128).optional(),
  message: z.string().max(512),
});
/** A bound reader unplugged while the gateway runs, or back after that. */
export const ReaderStateData = z.object({ reader: z.string().max(128) });
export const RosterAppliedData = z.object({
  version: z.number().int().positive(),
  kind: z.enum(['snapshot', 'delta']),
});
export const RosterRejectedData = z.object({
  reason: z.string().max(512),
  version: z.number().int().optional(),
});
/**
 * A card admitted at a venue, by its certificate: the card number and its issuer, no name (the venue
 * has none and needs none). The record's `at` is the time of entry; `day` is the venue's local date.
 */
export const VenueVisitData = z.object({
  /** The venue: its station's id. */
  venue: Identifier,
  reader: z.string().max(128),
  cardId: z.string().max(64),
  /** The key id of the issuer whose certificate the card showed. */
  issuer: KeyId,
  day: IsoDate,
  /** The class visit the card came with: a pupil of it, or the teacher whose tap admitted it. */
  booking: Identifier.optional(),
  teacher: z.boolean().optional(),
  /** The card came in earlier the same day, went out and came back: the same visit. */
  reentry: z.boolean().optional(),
  flags: z.array(DecisionFlag),
});
export type VenueVisitData = z.infer<typeof VenueVisitData>;

/** A card out through a venue's exit reader; with the entry time and minutes when the venue saw it come in. */
export const VenueExitData = z.object({
  venue: Identifier,
  reader: z.string().max(128),
  cardId: z.string().max(64),
  issuer: KeyId,
  day: IsoDate,
  enteredAt: IsoTime.optional(),
  minutes: z.number().int().nonnegative().optional(),
});
export type VenueExitData = z.infer<typeof VenueExitData>;

/** A card refused at a venue's entry, with why; `cardId` is the UID of a card that showed nothing more. */
export const VenueRefusedData = z.object({
  venue: Identifier,
  reader: z.string().max(128),
  cardId: z.string().max(64),
  credential: z.enum(['uid', 'edu-cpu']),
  issuer: KeyId.optional(),
  day: IsoDate,
  reason: DenyReason,
  flags: z.array(DecisionFlag),
});
export type VenueRefusedData = z.infer<typeof VenueRefusedData>;

export const HotlistAppliedData = z.object({
  version: z.number().int().positive(),
  kind: z.enum(['snapshot', 'delta']),
  entries: z.number().int().nonnegative(),
});

export const GatewayStartedData = z.object({
  firmware: z.string().max(64),
  recoveredBytes: z.number().int().nonnegative(),
});

/** A new release is switched in and on trial: its commit check follows. */
export const UpdateSwitchedData = z.object({
  from: z.string().max(64),
  to: z.string().max(64),
  rollout: Identifier.optional(),
});
/** A release passed its commit check on this device and stays. */
export const UpdateCommittedData = UpdateSwitchedData;
/** A release did not take (refused, or rolled back by itself or by a technician), and why. */
export const UpdateFailedData = z.object({
  version: z.string().max(64),
  running: z.string().max(64),
  stage: z.enum(['verify', 'download', 'switch', 'check', 'start', 'technician']),
  reason: z.string().max(512),
  rollout: Identifier.optional(),
});

/**
 * Why journal records were lost: a segment damaged at rest (`corrupt`: a bad checksum, frame or
 * chain with whole records after it), one that could not be read (`unreadable`), one gone
 * (`missing`), records dropped from memory while the disk was full (`disk-full`), or records still
 * in memory when the gateway stopped with the disk full (`unsaved-at-stop`).
 */
export const JOURNAL_LOSS_CAUSES = [
  'corrupt',
  'unreadable',
  'missing',
  'disk-full',
  'unsaved-at-stop',
] as const;
export const JournalLossCause = z.enum(JOURNAL_LOSS_CAUSES);
export type JournalLossCause = z.infer<typeof JournalLossCause>;

/**
 * A loss the journal explains. With `firstSeq`..`lastSeq` the chain has a break there: the record
 * after `lastSeq` names `resumeHash` as its `prev`, and a verifier goes on from that point instead of
 * calling it tampering. Without them (`unsaved-at-stop`) no sequence number was lost: the records
 * never reached the disk and their numbers were used again.
 */
export const JournalDamagedData = z.object({
  cause: JournalLossCause,
  firstSeq: z.number().int().positive().optional(),
  lastSeq: z.number().int().positive().optional(),
  /** `lastSeq` is a bound, not a count: an unreadable or missing file's last record is not known. */
  bound: z.boolean().optional(),
  resumeHash: Sha256Hex.optional(),
  /** Records lost (at most this many when `bound`). */
  records: z.number().int().nonnegative(),
  /** The file as kept in the journal's quarantine folder, when there is one. */
  file: z.string().max(256).optional(),
  reason: z.string().max(512),
});
export type JournalDamagedData = z.infer<typeof JournalDamagedData>;

/**
 * The data schema of each event type this version knows. A record of a type a peer does not know is
 * still carried and stored whole (an adjacent version may have added it), but only known types are
 * checked field by field.
 */
export const EVENT_DATA = {
  'gate.decision': GateDecisionData,
  'door.forced': DoorAlarmData,
  'door.held-open': DoorAlarmData,
  'door.exit-request': ExitRequestData,
  'door.remote-open': RemoteOpenData,
  'door.emergency-release': EmergencyReleaseData,
  'door.emergency-restored': EmergencyRestoredData,
  'gate.lockdown': LockdownData,
  'gate.lockdown-lifted': LockdownLiftedData,
  'journal.disk-low': DiskLowData,
  'journal.damaged': JournalDamagedData,
  'reader.fault': ReaderFaultData,
  'reader.lost': ReaderStateData,
  'reader.connected': ReaderStateData,
  'roster.applied': RosterAppliedData,
  'roster.rejected': RosterRejectedData,
  'hotlist.applied': HotlistAppliedData,
  'hotlist.rejected': RosterRejectedData,
  'venue.visit': VenueVisitData,
  'venue.exit': VenueExitData,
  'venue.refused': VenueRefusedData,
  'gateway.started': GatewayStartedData,
  'update.switched': UpdateSwitchedData,
  'update.committed': UpdateCommittedData,
  'update.failed': UpdateFailedData,
  'library.checkout': LibraryCheckoutData,
  'library.return': LibraryReturnData,
  'library.renew': LibraryRenewData,
  'lab.signin': LabSignInData,
  'lab.signout': LabSignOutData,
  'lab.booking': LabBookingData,
} as const;
export type EventType = keyof typeof EVENT_DATA;
export type EventData<T extends EventType> = z.infer<(typeof EVENT_DATA)[T]>;

/**
 * How far an event's time can be trusted: `synced` when the device's clock was set by NTP, or, with
 * `clockSource: 'rtc'`, by a battery-backed real-time clock that reported a valid time before NTP
 * answered. `clockSource` is an added field, which a bridge of the version before keeps (the hash
 * covers it) without reading.
 */
export interface ClockStamp {
  clock: 'synced' | 'unsynced';
  clockSource?: 'rtc';
}

/** The clock stamp of a record or body, without its other fields. */
export const clockStampOf = (stamped: ClockStamp): ClockStamp => ({
  clock: stamped.clock,
  ...(stamped.clockSource ? { clockSource: stamped.clockSource } : {}),
});

/** What a station hands the journal: the journal adds the sequence number and the chain. */
export type EventBody = {
  [T in EventType]: { type: T; at: string; data: EventData<T> } & ClockStamp;
}[EventType];

/**
 * One journaled event. `hash` is the SHA-256 of the canonical bytes of every other field, `prev`
 * included, so each record commits to the whole history before it. Fields a newer peer added are
 * kept (not stripped), since the hash covers them.
 */
export const EventRecord = z.looseObject({
  spec: z.literal(SPEC_VERSION),
  device: Identifier,
  seq: z.number().int().positive(),
  at: IsoTime,
  clock: z.enum(['synced', 'unsynced']),
  clockSource: z.literal('rtc').optional(),
  type: z.string().regex(/^[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)+$/, 'dotted lower-case, e.g. gate.decision'),
  data: z.record(z.string(), z.unknown()),
  prev: Sha256Hex,
  hash: Sha256Hex,
});
export type EventRecord = z.infer<typeof EventRecord>;

/** The `prev` of a device's first record. */
export const GENESIS_HASH = '0'.repeat(64);

/** Checks a record's data against its type's schema when the type is known. */
export function checkEventData(record: Pick<EventRecord, 'type' | 'data'>): string | undefined {
  const schema = (EVENT_DATA as Record<string, z.ZodType>)[record.type];
  if (!schema) return undefined;
  const result = schema.safeParse(record.data);
  return result.success
    ? undefined
    : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}
