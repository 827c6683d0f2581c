import type { Bridge } from '@educard/cloud-bridge';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';

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
      data: gateDecisionData({
        personId: tap.personId,
        direction: tap.direction,
        cardId: `CARD-${tap.personId}-0001`,
        role: tap.role ?? 'student',
        decision: tap.decision ?? 'grant',
      }),
    })),
    bridge.store.cursor(device),
  );
  bridge.store.commitRecords(device, school, records);
}
