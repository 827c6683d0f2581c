import { eventHash } from '../contract/chain.js';
import { SPEC_VERSION } from '../contract/common.js';
import { type EventRecord, type GateDecisionData, GENESIS_HASH } from '../contract/events.js';

/** What a test says of one event; the chain fills in the rest. */
export interface RecordBody {
  type: string;
  at: string;
  data: Record<string, unknown>;
  clock?: 'synced' | 'unsynced';
}

/**
 * A device's records chained on from `from` (the genesis by default), as its journal would hold
 * them: consecutive sequence numbers, each `prev` the hash before it.
 */
export function chainRecords(
  device: string,
  bodies: Iterable<RecordBody>,
  from: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH },
): EventRecord[] {
  const records: EventRecord[] = [];
  let prev = from;
  for (const { type, at, data, clock = 'synced' } of bodies) {
    const unhashed = {
      spec: SPEC_VERSION,
      device,
      seq: prev.seq + 1,
      at,
      clock,
      type,
      data,
      prev: prev.hash,
    };
    const record = { ...unhashed, hash: eventHash(unhashed) };
    records.push(record);
    prev = { seq: record.seq, hash: record.hash };
  }
  return records;
}

/**
 * A well-formed gate decision's data: a granted entry by the person's card unless `fields` say
 * otherwise. The bridge interprets only records whose data matches their type's schema.
 */
export function gateDecisionData(fields: Partial<GateDecisionData> & { personId: string }): GateDecisionData {
  const direction = fields.direction ?? 'in';
  const decision = fields.decision ?? 'grant';
  return {
    station: 'gate-main',
    reader: `sim-${direction}`,
    zone: 'main-gate',
    direction,
    cardId: `CARD-${fields.personId}`,
    credential: 'edu-cpu',
    role: 'student',
    decision,
    reason: decision === 'grant' ? 'ok' : 'lost',
    flags: [],
    rosterVersion: 1,
    ...fields,
  };
}
