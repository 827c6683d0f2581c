import type {
  BatchLoss,
  Calendar,
  CardEntry,
  DataFormats,
  EventRecord,
  ReleaseArch,
  Schedule,
  StorageState,
} from '@educard/terminal-sdk';
import type { CommitProjection, ProjectionOptions } from './projections.js';
import type { SqlDatabase } from './sql.js';

/** A stored record whose data does not match its type's schema, and why. */
export interface UninterpretedRecord {
  seq: number;
  type: string;
  problem: string;
}

export type CommitResult = ChainPoint & {
  inserted: number;
  uninterpreted?: UninterpretedRecord[];
  /** The loss this commit took as a fact (a declared break it resumed after). */
  loss?: JournalLoss;
};

/**
 * A break a device declared before the records of a batch (EventBatch.lost), with the point the chain
 * resumes from: `lastSeq`, and the hash the batch's first record names as its `prev`.
 */
export interface DeclaredLoss extends BatchLoss {
  resumeHash: string;
}

/**
 * A loss a device told of, kept as a fact: records its journal lost (a damaged, unreadable or missing
 * segment; records dropped while its disk was full; records still in memory when it stopped). The
 * bridge takes it from the batch that declares the break, or from the device's `journal.damaged`
 * record (`confirmedAt`), whichever comes first; it never asks for those records again.
 */
export interface JournalLoss {
  id: number;
  device: string;
  school: string;
  cause: string;
  firstSeq?: number;
  lastSeq?: number;
  /** `lastSeq` (and `records`) is an upper bound: the device could not tell how many it had. */
  bound: boolean;
  /** Records the device lost. */
  records: number;
  /** Of those, the ones the bridge never received: lost for good. */
  missing: number;
  reason?: string;
  file?: string;
  /** The device's `journal.damaged` record that explains it. */
  damagedSeq?: number;
  declaredAt: string;
  /** When the `journal.damaged` record was committed. */
  confirmedAt?: string;
}

export interface LossFilter {
  school?: string;
  device?: string;
  limit: number;
}

export interface ChainPoint {
  seq: number;
  hash: string;
}

/** A committed record, with where and when the bridge got it; `id` orders and pages the events. */
export interface StoredEvent {
  id: number;
  school: string;
  /** The device's epoch the record belongs to: (device, epoch, seq) is unique. */
  epoch: number;
  receivedAt: string;
  record: EventRecord;
}

export interface EventFilter {
  school?: string;
  device?: string;
  personId?: string;
  type?: string;
  /** Records with `at` at or after this instant (any ISO 8601 offset; compared in UTC). */
  fromAt?: string;
  /** Records with `at` before this instant (exclusive, so windows tile). */
  toAt?: string;
  /** Paging: only events stored after this id. */
  afterId?: number;
  /** Only events up to this id (a cursor's reader passes `settledEventId()`). */
  throughId?: number;
  limit: number;
}

export interface Presence {
  online: boolean;
  bdSeq: number;
  at: string;
  firmware?: string;
  rosterVersion?: number;
  keySetVersion?: number;
  journalBacklog?: number;
  storage?: StorageState;
  /** The device's CPU and the data formats its release reads and writes (for rollouts). */
  arch?: ReleaseArch;
  formats?: DataFormats;
  /** The kind of station it runs, as its last state said (a gate, a library desk, …). */
  station?: string;
}

export interface Device {
  id: string;
  school: string;
  /** base64url of the raw Ed25519 public key that signs the device's batches. */
  publicKey: string;
  /** SHA-256 (hex) of the broker password the device got at enrollment. */
  secretHash: string;
  /**
   * Which enrollment of this id the key belongs to: 1 at first, one more each time the id is enrolled
   * again with another key (or into another school). Each epoch is its own chain from seq 1.
   */
  epoch: number;
  createdAt: string;
  revokedAt?: string;
  lastSeenAt?: string;
  presence?: Presence;
}

/** What an unused, unexpired enrollment token grants. */
export interface TokenGrant {
  school: string;
  /** The one device id it may enroll, when it was bound to one at creation. */
  device?: string;
}

/** What a device brings to an enrollment; its school is the token's. */
export interface EnrollingDevice {
  id: string;
  publicKey: string;
  secretHash: string;
}

export type EnrollOutcome =
  | {
      ok: true;
      device: Device;
      /** This enrollment started a new epoch (a new key or another school): a new chain, the cursor at the genesis. */
      newEpoch: boolean;
      /** The school the id was enrolled in before, when it was. */
      previousSchool?: string;
    }
  | {
      ok: false;
      /** `token`: unknown, used or expired; `bound`: made for another device id; `enrolled`: the id is live. */
      refused: 'token' | 'bound' | 'enrolled';
    };

export interface RosterSettings {
  calendar: Calendar;
  schedules: Schedule[];
}

/** One published roster version of a school: the signed snapshot, and the delta from the one before. */
export interface RosterVersion {
  school: string;
  version: number;
  snapshotManifest: string;
  snapshotBody: Uint8Array;
  deltaManifest?: string;
  deltaBody?: Uint8Array;
  createdAt: string;
}

/** A school's changed cards (and settings) and the version published for them. */
export interface RosterCommit {
  school: string;
  cards: CardEntry[];
  settings: RosterSettings | undefined;
  version: RosterVersion;
  /**
   * Cards taken off the school's roster (an anonymised leaver's), and with them every older version
   * of the school, whose bodies still hold them: the bridge keeps no roster that names them.
   */
  forgotten?: string[];
}

/** One published catalogue version of a school: its signed manifest and its body. */
export interface CatalogueVersion {
  school: string;
  version: number;
  manifest: string;
  body: Uint8Array;
  createdAt: string;
}

/**
 * The bridge's repository of what every part of it shares: devices, their events and chains,
 * enrollment, rosters and catalogues. It knows no other domain: each module keeps its own tables in
 * the same database through `database` (and `migrateModule`), and what must move with the events (an
 * outbox, a projection, the loan ledger) registers with `addCommitProjection`. SQLite and PostgreSQL
 * implement it, and both pass the conformance suite in ./conformance.ts.
 */
export interface BridgeStore {
  /** The connection the modules keep their own tables through, in this backend's dialect. */
  readonly database: SqlDatabase;
  /** Runs `project` inside every later `commitRecords`, after the events are inserted. */
  addCommitProjection(project: CommitProjection, options?: ProjectionOptions): void;
  /** The highest contiguous sequence committed for a device, and its record's hash. */
  cursor(device: string): ChainPoint;
  /**
   * Commits the records that continue the device's cursor, in one transaction, and returns the new
   * cursor. Records at or below the cursor are duplicates and are not stored again; a run that does
   * not start at cursor + 1 (or whose `prev` does not link to the cursor's hash) is not stored at
   * all, and a run is stored only up to its first gap. The caller has checked signatures and hashes.
   * When it returns, the records are on disk: the caller may acknowledge them.
   *
   * A record of a known type whose data does not match the type's schema is stored like any other
   * (it is in the device's signed chain, and the central system gets it), but nothing interprets it:
   * no projection, no loan ledger. Such records are listed in `uninterpreted`.
   */
  commitRecords(
    device: string,
    school: string,
    records: EventRecord[],
    options?: { loss?: DeclaredLoss },
  ): CommitResult;
  /**
   * The losses devices told of, newest first. `commitRecords` keeps them: with `loss`, a declared
   * break whose resume point is at or past the cursor is stored as a fact (with the records the
   * bridge never got) and the run is taken from that point; a committed `journal.damaged` record
   * confirms the fact of its break, or is the fact itself when no batch declared it.
   */
  journalLosses(filter: LossFilter): JournalLoss[];
  /** How many losses, and how many records lost for good, in a school (all when none is given). */
  lossTotals(school?: string): { losses: number; missing: number; lastAt?: string };
  queryEvents(filter: EventFilter): StoredEvent[];
  /**
   * An id no event can still appear at or below: a reader that follows event ids with a cursor reads
   * no further, or it may move past an id another bridge instance commits later (PostgreSQL). On
   * SQLite, one writer commits ids in their order: every id is settled.
   */
  settledEventId(): number;
  countEvents(filter?: { device?: string; school?: string }): number;

  getDevice(id: string): Device | undefined;
  listDevices(school?: string): Device[];
  /** Sets revokedAt; false when the device is unknown or already revoked. */
  revokeDevice(id: string, at: string): boolean;
  /**
   * Sparkplug's rule: takes a birth or death whose bdSeq is at least the held one, and then sets
   * lastSeenAt; an older one (a late will of an earlier connection) is ignored and returns false, as
   * does an unknown device.
   */
  recordPresence(id: string, presence: Presence): boolean;

  /** Random 32-byte base64url tokens; only their SHA-256 is stored. With `device`, each enrolls that id only. */
  createTokens(school: string, count: number, expiresAt: string, device?: string): string[];
  /** What a token grants, without using it: undefined when it is unknown, used or expired. */
  tokenGrant(token: string, now: string): TokenGrant | undefined;
  /**
   * Enrolls a device against a token, in one transaction, so that nothing changes when it is refused
   * (the token stays usable) and two enrollments cannot race. Refused when the token is unknown, used,
   * expired or bound to another id, and when the id is enrolled and not revoked: a live device is never
   * re-bound by a token. An id enrolled before keeps its epoch when it comes back with the same key to
   * the same school (a mistaken revocation undone); with another key or school it starts the next
   * epoch: its cursor goes back to the genesis, its presence is forgotten, and the old epoch's records
   * stay where they are.
   */
  enrollDevice(token: string, device: EnrollingDevice, now: string): EnrollOutcome;
  /**
   * Removes the tokens used or expired before `now`: each is refused as an unknown one would be, and
   * the enrollment it made is in the audit log. How many.
   */
  forgetSpentTokens(now: string): number;

  /**
   * The cards of a school's roster as they stand, those its holders took to another school included
   * (cancelled, `statusReason` transferred): a card may be on several schools' rosters.
   */
  rosterCards(school: string): CardEntry[];
  /** A card where it is now: on the roster of a school it was not transferred away from. */
  findCard(cardId: string): CardEntry | undefined;
  /** A person's cards on every school's roster, those left behind by a transfer included. */
  personCards(personId: string): CardEntry[];
  rosterSettings(school: string): RosterSettings | undefined;
  /**
   * Saves each school's changed cards (and settings) and the version published for them, and runs
   * `alongside` (the caller's writes to the same database), all in one transaction.
   */
  commitRosters(commits: RosterCommit[], alongside?: () => void): void;
  latestRosterVersion(school: string): RosterVersion | undefined;
  /** A version as published; one thinned (`thinSupersededVersions`) has an empty snapshot body and no delta. */
  rosterVersion(school: string, version: number): RosterVersion | undefined;
  rosterSchools(): string[];
  /**
   * Drops the bodies of each school's roster and catalogue versions superseded by one published before
   * `before`, keeping their manifests (what a device on an old version holds, and until when): each
   * body is a whole roster or catalogue, and nothing serves it once the grants to fetch it have run
   * out. How many of each.
   */
  thinSupersededVersions(before: string): { rosters: number; catalogues: number };

  /** Saves a published catalogue version. */
  commitCatalogue(version: CatalogueVersion): void;
  latestCatalogue(school: string): CatalogueVersion | undefined;
  /** The latest catalogue version's number, without its body. */
  latestCatalogueVersion(school: string): number | undefined;
  /** A version as published; one thinned (`thinSupersededVersions`) has an empty body. */
  catalogueVersion(school: string, version: number): CatalogueVersion | undefined;
  catalogueSchools(): string[];

  close(): void;
}
