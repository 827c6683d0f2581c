import type { Device, SqlDatabase } from '../store/index.js';

export interface LatestRoster {
  version: number;
  createdAt: string;
}

/**
 * What each device holds of its school's roster: the versions it journaled as applied
 * (`roster.applied`), and what its presence said at its last birth. Reads the roster's own table for
 * versions and manifests only, never the snapshot bodies (which can be megabytes per school).
 */
export class RosterProgress {
  private readonly s;

  constructor(db: SqlDatabase) {
    this.s = {
      applied: db.prepare(
        'INSERT INTO ops_roster_applied (device, version, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      highest: db.prepare<[string], { version: number | null }>(
        'SELECT max(version) AS version FROM ops_roster_applied WHERE device = ?',
      ),
      appliedAt: db.prepare<[string, number], { at: string | null }>(
        'SELECT min(at) AS at FROM ops_roster_applied WHERE device = ? AND version >= ?',
      ),
      latest: db.prepare<[string], { version: number; created_at: string }>(
        'SELECT version, created_at FROM roster_versions WHERE school = ? ORDER BY version DESC LIMIT 1',
      ),
      manifest: db.prepare<[string, number], { snapshot_manifest: string }>(
        'SELECT snapshot_manifest FROM roster_versions WHERE school = ? AND version = ?',
      ),
    };
  }

  /** Keeps a `roster.applied` record (called from the commit projection). */
  applied(device: string, version: number, at: string): void {
    this.s.applied.run(device, version, at);
  }

  /**
   * The version a device holds: the higher of what it journaled applying and what its presence
   * reported (a device reports its version only when it connects; versions of a school only grow).
   */
  held(device: Device): number | undefined {
    const journaled = this.s.highest.get(device.id)?.version ?? undefined;
    const reported = device.presence?.rosterVersion;
    if (journaled === undefined) return reported;
    return reported === undefined ? journaled : Math.max(journaled, reported);
  }

  /** When the device applied this version or a later one, as its `roster.applied` record says. */
  appliedAt(device: string, version: number): string | undefined {
    return this.s.appliedAt.get(device, version)?.at ?? undefined;
  }

  latest(school: string): LatestRoster | undefined {
    const row = this.s.latest.get(school);
    return row ? { version: row.version, createdAt: row.created_at } : undefined;
  }

  /** The expiry its signed manifest gives a version (the device refuses it after that). */
  expiresAt(school: string, version: number): string | undefined {
    return this.validity(school, version)?.expiresAt;
  }

  /** When a version's signed manifest was issued and when it expires; undefined when it cannot be read. */
  validity(school: string, version: number): { issuedAt: string; expiresAt: string } | undefined {
    const row = this.s.manifest.get(school, version);
    if (!row) return undefined;
    try {
      const signed = (
        JSON.parse(row.snapshot_manifest) as { signed?: { issuedAt?: unknown; expiresAt?: unknown } }
      ).signed;
      return typeof signed?.issuedAt === 'string' && typeof signed.expiresAt === 'string'
        ? { issuedAt: signed.issuedAt, expiresAt: signed.expiresAt }
        : undefined;
    } catch {
      return undefined;
    }
  }
}
