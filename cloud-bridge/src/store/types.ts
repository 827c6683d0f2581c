import type { Calendar, CardEntry, EventRecord, Schedule } from '@educard/terminal-sdk';

export interface ChainPoint {
  seq: number;
  hash: string;
}

export interface StoredEvent {
  id: number;
  school: string;
  receivedAt: string;
  record: EventRecord;
}

export interface EventFilter {
  school?: string;
  device?: string;
  personId?: string;
  type?: string;
  fromAt?: string;
  toAt?: string;
  /** Paging: only events stored after this id. */
  afterId?: number;
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
}

export interface Device {
  id: string;
  school: string;
  /** base64url of the raw Ed25519 public key that signs the device's batches. */
  publicKey: string;
  /** SHA-256 (hex) of the broker password the device got at enrollment. */
  secretHash: string;
  createdAt: string;
  revokedAt?: string;
  lastSeenAt?: string;
  presence?: Presence;
}

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

/**
 * The bridge's repository. Every implementation passes the conformance suite in ./conformance.ts
 * (SQLite now; PostgreSQL when a district outgrows one machine).
 */
export interface BridgeStore {
  /** The highest contiguous sequence committed for a device, and its record's hash. */
  cursor(device: string): ChainPoint;
  /**
   * Commits the records that continue the device's cursor, in one transaction, and returns the new
   * cursor. Records at or below the cursor are duplicates and are not stored again; a run that does
   * not start at cursor + 1 is not stored at all. The caller has checked signatures and the chain.
   */
  commitRecords(device: string, school: string, records: EventRecord[]): ChainPoint & { inserted: number };
  queryEvents(filter: EventFilter): StoredEvent[];
  countEvents(filter?: { device?: string; school?: string }): number;

  putDevice(device: Omit<Device, 'revokedAt' | 'lastSeenAt' | 'presence'>): void;
  getDevice(id: string): Device | undefined;
  listDevices(school?: string): Device[];
  revokeDevice(id: string, at: string): boolean;
  /** Takes a birth or death unless it is older (by bdSeq) than what is held: a late will is ignored. */
  recordPresence(id: string, presence: Presence): boolean;

  createTokens(school: string, count: number, expiresAt: string): string[];
  /** Uses a token up: once, and only before it expires. */
  consumeToken(token: string, now: string): { school: string } | undefined;

  /** The cards of a school's roster as they stand. */
  rosterCards(school: string): CardEntry[];
  findCard(cardId: string): CardEntry | undefined;
  rosterSettings(school: string): RosterSettings | undefined;
  /** Saves changed cards (and settings) and the version published for them, in one transaction. */
  commitRoster(
    school: string,
    cards: CardEntry[],
    settings: RosterSettings | undefined,
    version: RosterVersion,
  ): void;
  latestRosterVersion(school: string): RosterVersion | undefined;
  rosterVersion(school: string, version: number): RosterVersion | undefined;
  rosterSchools(): string[];

  close(): void;
}
