import { z } from 'zod';
import { CatalogueSnapshotMessage } from './catalogue.js';
import { Identifier, IsoTime, SPEC_VERSION } from './common.js';
import { HotlistSnapshotMessage } from './hotlist.js';
import { EventAck, RosterDeltaMessage, RosterKeySetsMessage, RosterSnapshotMessage } from './messages.js';

/**
 * What a device may ask for in its birth (`DeviceState.want`), so that it relies on no retained
 * message: a broker cluster may not replicate retained messages to every node (RabbitMQ keeps them
 * per node), and retaining one ack per batch costs a replicated write on a JetStream-backed broker.
 * A peer ignores wants it does not know, so a newer device may ask for more.
 */
export const SYNC_WANTS = ['ack', 'keySets', 'roster', 'catalogue', 'hotlist', 'lockdown'] as const;
export type SyncWant = (typeof SYNC_WANTS)[number];

/**
 * The QoS everything sent to a device is delivered with (its ack, commands and sync answers, its
 * school's key sets, roster, catalogue, hotlist, plans and releases): 0. A device subscribes at it, and
 * the bridge publishes what only one device reads (its ack, its sync answer) at it. A device's session
 * is clean, so a QoS 1 subscription is never redelivered on a later connection, and on one connection
 * TCP delivers QoS 0 as well; what a dropped connection loses the next birth asks for (SYNC_WANTS), and
 * a lost ack costs a resend the bridge drops as a duplicate. On NATS each QoS 1 subscription is a
 * JetStream consumer (six a device made a district of 1,000 simulated gateways wait 47 s, p50, for an
 * ack; 46 ms with none), and each QoS 1 publish a replicated JetStream write even when it is delivered
 * at 0 (acks and sync answers at QoS 1 held 2,000 gateways' first batches 10 s): docs/scale-out.md.
 */
export const DEVICE_DELIVERY_QOS = 0;

/**
 * The bridge's answer to a birth that asked, on the device's own `sync` topic: its last committed
 * ack, every key set, the latest roster manifest (with the delta when it follows the version the
 * device holds), the latest catalogue manifest and, for a venue, the district hotlist's snapshot
 * manifest, each as the message its own topic carries (a venue with no roster gets the district's key
 * sets), and the school's lockdown.
 * `bdSeq` is the birth it answers, so a late answer to an earlier connection is told apart.
 */
export const SyncReply = z.object({
  v: z.literal(SPEC_VERSION),
  device: Identifier,
  bdSeq: z.number().int().nonnegative(),
  at: IsoTime,
  ack: EventAck.optional(),
  keySets: RosterKeySetsMessage.optional(),
  rosterDelta: RosterDeltaMessage.optional(),
  rosterSnapshot: RosterSnapshotMessage.optional(),
  catalogue: CatalogueSnapshotMessage.optional(),
  hotlist: HotlistSnapshotMessage.optional(),
  /**
   * The school's lockdown as a signed `lockdown.set` command for this device (a device checks and
   * runs it as one from its command topic), when the school has ever had one.
   */
  lockdown: z.record(z.string(), z.unknown()).optional(),
});
export type SyncReply = z.infer<typeof SyncReply>;
