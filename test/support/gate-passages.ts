import type { Bridge } from '@educard/cloud-bridge';
import type { DenyReason } from '@educard/terminal-sdk';
import { chainRecords, gateDecisionData } from '@educard/terminal-sdk/testing';

export interface GateTap {
  personId: string;
  at: string;
  direction: 'in' | 'out';
  role?: 'student' | 'teacher' | 'staff';
  decision?: 'grant' | 'deny';
  /** Why a denied tap was refused (the test records' default otherwise). */
  reason?: DenyReason;
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
        ...(tap.reason ? { reason: tap.reason } : {}),
      }),
    })),
    bridge.store.cursor(device),
  );
  bridge.store.commitRecords(device, school, records);
}
