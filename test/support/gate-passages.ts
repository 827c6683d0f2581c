import type { Bridge } from '@educard/cloud-bridge';
import { type EventRecord, eventHash } from '@educard/terminal-sdk';

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
  let prev = bridge.store.cursor(device);
  const records: EventRecord[] = taps.map((tap) => {
    const unhashed = {
      spec: 1 as const,
      device,
      seq: prev.seq + 1,
      at: tap.at,
      clock: 'synced' as const,
      type: 'gate.decision',
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
      prev: prev.hash,
    };
    const record = { ...unhashed, hash: eventHash(unhashed) };
    prev = { seq: record.seq, hash: record.hash };
    return record;
  });
  bridge.store.commitRecords(device, school, records);
}
