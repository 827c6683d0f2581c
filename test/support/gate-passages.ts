import type { Bridge } from '@educard/cloud-bridge';
import { chainRecords } from '@educard/terminal-sdk/testing';

export interface GateTap {
  personId: string;
  at: string;
  direction: 'in' | 'out';
  role?: 'student' | 'teacher' | 'staff';
  decision?: 'grant' | 'deny';
}

/**
 * A gate's decisions as its journal would hold them (chained from the device's stored cursor) committed
 * into the bridge's store, as ingest commits a verified batch. The ingest path itself is tested in
 * test/uplink.
 */
export function commitTaps(bridge: Bridge, device: string, school: string, taps: GateTap[]): void {
  const records = chainRecords(
    device,
    taps.map((tap) => ({
      type: 'gate.decision',
      at: tap.at,
      data: {
        station: 'gate-main',
        reader: `sim-${tap.direction}`,
        zone: 'main-gate',
        direction: tap.direction,
        cardId: `CARD-${tap.personId}-0001`,
        credential: 'edu-cpu',
        personId: tap.personId,
        role: tap.role ?? 'student',
        decision: tap.decision ?? 'grant',
        reason: tap.decision === 'deny' ? 'lost' : 'ok',
        flags: [],
        rosterVersion: 1,
      },
    })),
    bridge.store.cursor(device),
  );
  bridge.store.commitRecords(device, school, records);
}
