import type { CatalogueVersion, Device, JournalLoss, Presence, RosterVersion } from './types.js';

/** The core tables' rows, as either backend returns them, and what the store makes of them. */
export interface DeviceRow {
  id: string;
  school: string;
  public_key: string;
  secret_hash: string;
  epoch: number;
  created_at: string;
  revoked_at: string | null;
  last_seen_at: string | null;
  presence: string | null;
}

export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    school: row.school,
    publicKey: row.public_key,
    secretHash: row.secret_hash,
    epoch: row.epoch,
    createdAt: row.created_at,
    ...(row.revoked_at ? { revokedAt: row.revoked_at } : {}),
    ...(row.last_seen_at ? { lastSeenAt: row.last_seen_at } : {}),
    ...(row.presence ? { presence: JSON.parse(row.presence) as Presence } : {}),
  };
}

export interface LossRow {
  id: number;
  device: string;
  school: string;
  cause: string;
  first_seq: number | null;
  last_seq: number | null;
  bound: number;
  records: number;
  missing: number;
  reason: string | null;
  file: string | null;
  damaged_seq: number | null;
  declared_at: string;
  confirmed_at: string | null;
}

export function toLoss(row: LossRow): JournalLoss {
  return {
    id: row.id,
    device: row.device,
    school: row.school,
    cause: row.cause,
    ...(row.first_seq !== null ? { firstSeq: row.first_seq } : {}),
    ...(row.last_seq !== null ? { lastSeq: row.last_seq } : {}),
    bound: row.bound === 1,
    records: row.records,
    missing: row.missing,
    ...(row.reason !== null ? { reason: row.reason } : {}),
    ...(row.file !== null ? { file: row.file } : {}),
    ...(row.damaged_seq !== null ? { damagedSeq: row.damaged_seq } : {}),
    declaredAt: row.declared_at,
    ...(row.confirmed_at !== null ? { confirmedAt: row.confirmed_at } : {}),
  };
}

export interface VersionRow {
  school: string;
  version: number;
  snapshot_manifest: string;
  snapshot_body: Buffer;
  delta_manifest: string | null;
  delta_body: Buffer | null;
  created_at: string;
}

export function toVersion(row: VersionRow): RosterVersion {
  return {
    school: row.school,
    version: row.version,
    snapshotManifest: row.snapshot_manifest,
    snapshotBody: new Uint8Array(row.snapshot_body),
    ...(row.delta_manifest ? { deltaManifest: row.delta_manifest } : {}),
    ...(row.delta_body ? { deltaBody: new Uint8Array(row.delta_body) } : {}),
    createdAt: row.created_at,
  };
}

export interface CatalogueRow {
  school: string;
  version: number;
  manifest: string;
  body: Buffer;
  created_at: string;
}

export function toCatalogue(row: CatalogueRow): CatalogueVersion {
  return {
    school: row.school,
    version: row.version,
    manifest: row.manifest,
    body: new Uint8Array(row.body),
    createdAt: row.created_at,
  };
}
