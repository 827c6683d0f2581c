import { z } from 'zod';
import { Identifier, IsoDate, IsoTime, KeyId, PublicKey, Sha256Hex, SPEC_VERSION } from './common.js';

export const ROLES = ['student', 'teacher', 'staff'] as const;
export const CARD_STATUSES = ['active', 'lost', 'cancelled', 'suspended'] as const;
export const Role = z.enum(ROLES);
export const CardStatus = z.enum(CARD_STATUSES);
export type Role = z.infer<typeof Role>;
export type CardStatus = z.infer<typeof CardStatus>;

/**
 * Why a card is not active where its status alone would say too little. `transferred`: its holder
 * moved to another school of the district, where the same card is active; on this school's roster it
 * stays, cancelled, so a gate here denies it as `transferred` rather than as an unknown card. The
 * reason is a field of its own, not a status, so that a peer of the previous contract version (which
 * drops fields it does not know) still reads the card as `cancelled` and denies it.
 */
export const STATUS_REASONS = ['transferred'] as const;
export const StatusReason = z.enum(STATUS_REASONS);
export type StatusReason = z.infer<typeof StatusReason>;

/** A card's UID as the reader reports it: 4, 7 or 10 bytes, upper-case hex. */
export const CardUid = z
  .string()
  .regex(/^(?:[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$/, '4, 7 or 10 bytes of upper-case hex');

/**
 * A card's UID as a gate holds it: `~` and the first 16 bytes of HMAC-SHA-256 under the roster's
 * `uidKey`, in base64url (see hashUid), so that the roster file of a stolen gate does not list the
 * UIDs to clone.
 */
export const HashedUid = z
  .string()
  .regex(/^~[A-Za-z0-9_-]{21}[AQgw]$/, '"~" and 16 bytes of canonical base64url');
const HeldUid = z.union([CardUid, HashedUid]);

/**
 * The roster a station gets: a `gate` (and a venue) only what its policy needs, no names and its UIDs
 * keyed-hashed; a `desk` (library, computer room) the names it shows. Each is its own signed series.
 */
export const ROSTER_VARIANTS = ['gate', 'desk'] as const;
export const RosterVariant = z.enum(ROSTER_VARIANTS);
export type RosterVariant = z.infer<typeof RosterVariant>;

/**
 * How a card proves itself. A `uid` card is looked up by its UID alone (easy to clone: marked weaker);
 * an `edu-cpu` card signs a fresh challenge with a key bound here. Its UID is optional and, when given,
 * lets the gateway recognise a UID-only copy of a CPU card and refuse it.
 */
export const Credential = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('uid'), uid: HeldUid }),
  z.object({ kind: z.literal('edu-cpu'), publicKey: PublicKey, uid: HeldUid.optional() }),
]);
export type Credential = z.infer<typeof Credential>;

export const CardEntry = z.object({
  cardId: Identifier,
  credential: Credential,
  personId: Identifier,
  role: Role,
  school: Identifier,
  grade: z.string().max(32).optional(),
  class: z.string().max(32).optional(),
  status: CardStatus,
  /** Only with status `cancelled` (see StatusReason). */
  statusReason: StatusReason.optional(),
  validFrom: IsoTime,
  validUntil: IsoTime,
  zones: z.array(Identifier).max(64),
  schedules: z.array(Identifier).max(16),
  displayName: z.string().max(64).optional(),
});
export type CardEntry = z.infer<typeof CardEntry>;

const Clock = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'HH:MM, 00:00 to 24:00');
/** ISO weekday: 1 is Monday, 7 is Sunday. */
const Weekday = z.number().int().min(1).max(7);

/**
 * A weekly window. When `end` is not after `start` the window runs across midnight: it opens on each
 * listed day at `start` and closes the next day at `end`.
 */
export const TimeWindow = z.object({ days: z.array(Weekday).min(1).max(7), start: Clock, end: Clock });
export type TimeWindow = z.infer<typeof TimeWindow>;

export const Schedule = z.object({
  id: Identifier,
  windows: z.array(TimeWindow).max(32),
  /** Whether the windows apply on holidays and closure days too (a caretaker's, say). */
  onHolidays: z.boolean().default(false),
});
export type Schedule = z.infer<typeof Schedule>;

export const Calendar = z.object({
  /** An IANA time zone: schedules are local school time. */
  timeZone: z.string().min(1).max(64),
  holidays: z.array(IsoDate).max(400).default([]),
  /** Days the school is closed at short notice (weather, elections): treated like holidays. */
  closures: z.array(IsoDate).max(400).default([]),
  /** Days taught on a weekend in exchange for a holiday, with the weekday whose timetable applies. */
  makeUpDays: z
    .array(z.object({ date: IsoDate, as: Weekday }))
    .max(64)
    .default([]),
});
export type Calendar = z.infer<typeof Calendar>;

export const RosterSnapshot = z.object({
  kind: z.literal('snapshot'),
  school: Identifier,
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  calendar: Calendar,
  schedules: z.array(Schedule).max(1024),
  /**
   * The school's key its UIDs are hashed under (32 bytes, base64url), in a gate variant: the tap path
   * hashes the UID it reads with it (hashUid) before looking the card up. Its deltas hash with it too.
   */
  uidKey: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/, '32 bytes of base64url')
    .optional(),
  cards: z.array(CardEntry).max(1_000_000),
});
export type RosterSnapshot = z.infer<typeof RosterSnapshot>;

export const RosterChange = z.discriminatedUnion('op', [
  z.object({ op: z.literal('add'), card: CardEntry }),
  z.object({ op: z.literal('update'), card: CardEntry }),
  z.object({
    op: z.literal('revoke'),
    cardId: Identifier,
    status: z.enum(['lost', 'cancelled', 'suspended']),
  }),
]);
export type RosterChange = z.infer<typeof RosterChange>;

export const RosterDelta = z.object({
  kind: z.literal('delta'),
  school: Identifier,
  fromVersion: z.number().int().positive(),
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  changes: z.array(RosterChange).max(100_000),
  /** When present, replaces the calendar or the schedules in force. */
  calendar: Calendar.optional(),
  schedules: z.array(Schedule).max(1024).optional(),
});
export type RosterDelta = z.infer<typeof RosterDelta>;

export const RosterBody = z.discriminatedUnion('kind', [RosterSnapshot, RosterDelta]);
export type RosterBody = z.infer<typeof RosterBody>;

/**
 * The small signed document that stands for a roster body: version, expiry, scope, and the digest and
 * length of the body, so that a large body is hashed natively and never signed itself.
 */
export const RosterManifest = z.object({
  type: z.literal('roster-manifest'),
  spec: z.literal(SPEC_VERSION),
  school: Identifier,
  /** When present, only these devices may apply it (a roster made for one gate). */
  devices: z.array(Identifier).max(1024).optional(),
  /**
   * Which station type's series this is (RosterVariant); only a station of that type applies it.
   * Absent: the whole roster, as bridges before variants issued it.
   */
  variant: RosterVariant.optional(),
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  expiresAt: IsoTime,
  /** The key set version the signer held; lets a device know it must fetch a newer key set first. */
  keySetVersion: z.number().int().positive(),
  body: z.object({
    kind: z.enum(['snapshot', 'delta']),
    fromVersion: z.number().int().positive().optional(),
    sha256: Sha256Hex,
    length: z.number().int().nonnegative(),
  }),
});
export type RosterManifest = z.infer<typeof RosterManifest>;

export const KeyRef = z.object({ keyId: KeyId, publicKey: PublicKey });
export type KeyRef = z.infer<typeof KeyRef>;
export const KeyRole = z.object({
  keys: z.array(KeyRef).min(1).max(16),
  threshold: z.number().int().min(1).max(16),
});
export type KeyRole = z.infer<typeof KeyRole>;

/**
 * The root-signed list of keys. Root keys, pinned at provisioning, sign it; it names the roster-signing
 * keys and the root keys of the next version, so either can rotate without touching a device. Each
 * further role has its own keys and threshold: `releases` signs gateway software (its key is kept
 * offline like the root; a key set without it lets no release in).
 */
export const RosterKeySet = z.object({
  type: z.literal('roster-keyset'),
  spec: z.literal(SPEC_VERSION),
  version: z.number().int().positive(),
  issuedAt: IsoTime,
  root: KeyRole,
  roster: KeyRole,
  /**
   * The card issuers (a province's card centre, a city's) whose keys sign card certificates, so that a
   * venue admits any genuine card of theirs offline (docs/card-profile.md). A certificate carries one
   * issuer's signature: any one key named here suffices, whatever the threshold says. Absent: no
   * venue of this key set admits a card by its certificate.
   */
  cardIssuers: KeyRole.optional(),
  /**
   * The keys the bridge signs device commands with (`door.open` and the like): a device runs a
   * command only when these keys sign it, whatever broker carried it. A key set without the role lets
   * no command in. Rotated N to N+1 with the roster key.
   */
  commands: KeyRole.optional(),
  releases: KeyRole.optional(),
});
export type RosterKeySet = z.infer<typeof RosterKeySet>;
