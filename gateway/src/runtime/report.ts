import type { TrustedClock } from '../clock/index.js';
import type { Journal } from '../journal/index.js';
import type { RosterStore } from '../roster/index.js';
import type { Quarantined } from '../storage/index.js';

/**
 * The device's storage for `educard status` and doctor: the disk, what waits in memory and what
 * was lost, the files kept in quarantine and the newest loss the journal explains.
 */
export function storageReportOf(
  journal: Journal,
  clock: TrustedClock,
  roster: RosterStore,
  quarantined: Quarantined[],
) {
  const stats = journal.stats();
  const damage = roster.damage;
  return {
    diskLow: stats.diskLow,
    diskFull: stats.diskFull,
    freeBytes: stats.freeBytes ?? null,
    lastWriteError: stats.lastWriteError ?? null,
    held: stats.held,
    maxHeld: stats.maxHeld,
    lost: stats.lost,
    quarantined: quarantined,
    lastDamage: stats.lastBreak ?? null,
    damagedNow: stats.damagedNow ?? null,
    notes: [
      ...stats.notes,
      ...(clock.damaged ? [`clock.json ${clock.damaged}: the time floor was rebuilt from the journal`] : []),
      ...(damage
        ? [
            `roster files damaged: ${damage.usedVersion ? `version ${damage.usedVersion} in force` : 'no roster in force'}${roster.wantsFresh ? ', a fresh snapshot is asked for at each connection' : ', a fresh one has arrived since'}`,
          ]
        : []),
    ],
  };
}

/** The roster in force for `educard status`: its version, size, life and key set; null without one. */
export function rosterReportOf(roster: RosterStore, now: number) {
  const view = roster.view;
  if (!view) return null;
  return {
    version: view.version,
    cards: view.size,
    issuedAt: new Date(view.issuedAt).toISOString(),
    expiresAt: new Date(view.expiresAt).toISOString(),
    expired: view.expiresAt <= now,
    keySetVersion: roster.keySetVersion,
  };
}

/** The clock for `educard status`: the time, whether it is trusted, where it comes from, its floor. */
export function clockReportOf(clock: TrustedClock, reading: { now: number; trusted: boolean }) {
  return {
    now: new Date(reading.now).toISOString(),
    trusted: reading.trusted,
    synced: clock.synced(),
    source: clock.source(),
    rtc: clock.rtc() ?? null,
    floor: new Date(clock.floor).toISOString(),
  };
}
