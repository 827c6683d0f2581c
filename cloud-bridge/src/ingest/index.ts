import {
  DeviceState,
  type EventAck,
  type EventBatch,
  type EventRecord,
  filters,
  fromBase64Url,
  MAX_MESSAGE_BYTES,
  parseDeviceTopic,
  parseMessage,
  SPEC_VERSION,
  sharedFilter,
  topics,
  verifyBatchSignature,
  verifyChain,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { publishToDevice } from '../broker/index.js';
import type { CommandSender } from '../commands/index.js';
import { type BridgeStore, type ChainPoint, type DeclaredLoss, logFailure } from '../store/index.js';
import { parseBatch } from './batch-parser.js';
import { GroupCommit } from './group-commit.js';

export { GroupCommit } from './group-commit.js';
export { DevicePartitions } from './partitions.js';

export interface IngestDeps {
  store: BridgeStore;
  client: MqttClient;
  logger: Logger;
  /** With an external broker and several bridges: a $share group, so each device's batches go to one. */
  shareGroup?: string;
  /**
   * With several bridge instances on a broker without shared subscriptions: whether this instance
   * takes the device's messages (it holds the device's partition); the others let them pass.
   */
  owns?: (device: string) => boolean;
  /** How often, at most, a device is asked to resend after a gap. */
  resendEveryMs?: number;
  /** Sends the signed `events.resend` a device runs after a gap. */
  commands: CommandSender;
  /** Publish acks retained (for gateways that do not ask for their last ack in their birth). */
  retainAcks?: boolean;
  /** Told of each live birth that asks for something (DeviceState.want); must not throw. */
  onBirth?: (state: DeviceState) => void;
  /** Told of each device state taken (a birth, a death, a storage report): operations' disk alarm. */
  onState?: (device: string, school: string, state: DeviceState) => void;
  /** Told how each batch ended, once it has (the bridge's metrics count them). */
  onBatch?: (outcome: BatchOutcome) => void;
  /**
   * The records as they are stored, from the records as the chain proved them: the persons a gate
   * names by pseudonym mapped back (PersonPseudonyms). Absent: stored as they came.
   */
  resolvePeople?: (school: string, records: EventRecord[]) => EventRecord[];
}

/** The store refusing commits: since when (ISO time) and the first failure's message. */
export interface StoreFailure {
  since: string;
  error: string;
}

/**
 * A commit failed while the store already refused them: a full disk fails every device's every batch
 * alike (the batches of one group commit with one error), and the first failure said so at error.
 */
class RepeatedStoreFailure extends Error {
  constructor(readonly failure: unknown) {
    super((failure as Error).message);
  }
}

/** Why a batch was refused: a fixed set, so that metrics can count by it. */
export const REJECT_REASONS = [
  'malformed',
  'wrong-topic',
  'not-enrolled',
  'bad-signature',
  'inconsistent',
  'chain-broken',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** How one batch ended. */
export type BatchOutcome =
  | { kind: 'stored'; records: number; stored: number; uninterpreted: number; commitSeconds: number }
  | { kind: 'duplicate'; records: number }
  | { kind: 'gap'; records: number; resendAsked: boolean }
  | { kind: 'rejected'; reason: RejectReason }
  | { kind: 'failed' };

export interface IngestStats {
  batches: number;
  stored: number;
  duplicates: number;
  gaps: number;
  /** Breaks devices declared (records their journal lost), taken as facts instead of gaps. */
  losses: number;
  rejected: number;
  /** Stored, but of a known type with data of another shape: no projection read them. */
  uninterpreted: number;
  /**
   * Not ingested for a failure on the bridge's side (its database unreachable): not acknowledged, so
   * the device sends the batch again.
   */
  failed: number;
}

/**
 * Takes event batches off the broker: validate, check the device's signature and the hash chain,
 * store what continues the device's cursor in one transaction, and only then publish the ack. A
 * batch that leaves a gap is not stored; the device is asked to resend from the first missing record,
 * unless the batch declares the gap lost (its journal was damaged, or its disk full): then the loss is
 * stored as a fact, and the chain taken on from the point the device names.
 * A bridge killed between store and ack acks again when the batch comes back, storing nothing twice.
 */
export class Ingest {
  readonly stats: IngestStats = {
    batches: 0,
    stored: 0,
    duplicates: 0,
    gaps: 0,
    losses: 0,
    rejected: 0,
    uninterpreted: 0,
    failed: 0,
  };
  private readonly queues = new Map<string, Promise<void>>();
  private failing: StoreFailure | undefined;
  private readonly lastResend = new Map<string, number>();
  private readonly commits: GroupCommit;

  constructor(private readonly deps: IngestDeps) {
    this.commits = new GroupCommit(deps.store);
  }

  /**
   * Since when the store has refused to commit batches (a full disk, a database that cannot be
   * reached), and its last words: none stored since, none acknowledged, the devices keep them.
   */
  get storeFailure(): StoreFailure | undefined {
    return this.failing;
  }

  async start(): Promise<void> {
    const { client, shareGroup } = this.deps;
    client.on('message', (topic, payload, packet) => this.onMessage(topic, payload, packet.retain));
    await client.subscribeAsync(
      [sharedFilter(shareGroup, filters.allEvents), sharedFilter(shareGroup, filters.allStates)],
      { qos: 1 },
    );
  }

  private onMessage(topic: string, payload: Buffer, retained: boolean): void {
    const parts = parseDeviceTopic(topic);
    if (!parts || this.deps.owns?.(parts.device) === false) return;
    if (parts.kind === 'state') {
      this.onState(parts, payload, retained);
      return;
    }
    if (parts.kind !== 'events') return;
    // One device's batches are handled one after another, in the order they came.
    const previous = this.queues.get(parts.device) ?? Promise.resolve();
    const next = previous
      .then(() => this.onBatch(parts, payload))
      .catch((error: unknown) => {
        this.stats.failed += 1;
        this.deps.onBatch?.({ kind: 'failed' });
        if (error instanceof RepeatedStoreFailure)
          this.deps.logger.debug({ err: error.failure, device: parts.device }, 'batch not ingested');
        else logFailure(this.deps.logger, { err: error, device: parts.device }, 'batch not ingested');
      });
    this.queues.set(parts.device, next);
  }

  private reject(
    device: string,
    code: RejectReason,
    reason: string,
    extra: Record<string, unknown> = {},
  ): void {
    this.stats.rejected += 1;
    this.deps.logger.warn({ device, reason, ...extra }, 'event batch rejected');
    this.deps.onBatch?.({ kind: 'rejected', reason: code });
  }

  private async onBatch(topic: { school: string; device: string }, payload: Buffer): Promise<void> {
    // Asked again when the batch's turn comes: its partition may have moved to another instance while
    // it waited behind the device's earlier batches, and that instance now commits the device (it
    // takes the device's resend); committing here too would contend for the device's lock.
    if (this.deps.owns?.(topic.device) === false) return;
    const { store } = this.deps;
    this.stats.batches += 1;
    const parsed = parseBatch(payload);
    if (!parsed.ok) return this.reject(topic.device, 'malformed', parsed.error);
    const batch = parsed.value;
    if (batch.device !== topic.device || batch.school !== topic.school) {
      return this.reject(
        topic.device,
        'wrong-topic',
        `batch names ${batch.school}/${batch.device}, published on ${topic.school}/${topic.device}`,
      );
    }
    const device = store.getDevice(batch.device);
    if (!device || device.revokedAt || device.school !== batch.school) {
      return this.reject(batch.device, 'not-enrolled', 'device is not enrolled in this school, or revoked');
    }
    // The signature is checked over the batch as it came, unknown fields and all.
    const signed = await verifyBatchSignature(parsed.raw as { sig: string }, fromBase64Url(device.publicKey));
    // The check ran in the thread pool: the partition may have moved while it did (see above).
    if (this.deps.owns?.(topic.device) === false) return;
    if (!signed) {
      return this.reject(
        batch.device,
        'bad-signature',
        'signature does not verify against the enrolled key: forged or altered',
        {
          from: batch.from,
        },
      );
    }
    // The records as they came, which the schema has just passed: they keep the device's key order,
    // so the hashes below are taken over exactly what was sent, and cheaply (see canonicalString).
    const { records } = parsed.raw as { records: EventRecord[] };
    const consistent =
      records[0]?.seq === batch.from &&
      records.at(-1)?.seq === batch.to &&
      records.at(-1)?.hash === batch.head &&
      records.every((r) => r.device === batch.device);
    if (!consistent)
      return this.reject(
        batch.device,
        'inconsistent',
        'records do not match the batch range, head or device',
      );

    const cursor = store.cursor(batch.device);
    if (batch.to <= cursor.seq) {
      this.stats.duplicates += 1;
      this.deps.onBatch?.({ kind: 'duplicate', records: records.length });
      return this.ack(batch.school, batch.device, cursor);
    }
    const loss = declaredLoss(batch, records, cursor);
    if (!loss && batch.from > cursor.seq + 1) {
      this.stats.gaps += 1;
      const resendAsked = this.askResend(batch.school, batch.device, cursor.seq + 1);
      this.deps.onBatch?.({ kind: 'gap', records: records.length, resendAsked });
      return;
    }
    const start = loss ? { seq: loss.lastSeq, hash: loss.resumeHash } : cursor;
    const fresh = records.filter((r) => r.seq > start.seq);
    // The chain from the stored cursor must end at the signed head: that is what proves the records.
    const broken = verifyChain(fresh, start);
    if (broken)
      return this.reject(
        batch.device,
        'chain-broken',
        `hash chain broken at seq ${broken.seq} (${broken.problem})`,
      );
    const started = performance.now();
    const stored = this.deps.resolvePeople?.(batch.school, fresh) ?? fresh;
    const committed = await this.commits
      .commit(batch.device, batch.school, stored, loss)
      .catch((error: unknown) => {
        if (this.failing) throw new RepeatedStoreFailure(error);
        this.failing = { since: new Date().toISOString(), error: (error as Error).message };
        throw error;
      });
    if (this.failing) {
      this.deps.logger.info({ failingSince: this.failing.since }, 'batches are stored again');
      this.failing = undefined;
    }
    const commitSeconds = (performance.now() - started) / 1000;
    this.stats.stored += committed.inserted;
    if (committed.loss) {
      this.stats.losses += 1;
      this.deps.logger.warn(
        { ...committed.loss, device: batch.device },
        'device declared records lost (journal damaged or disk full): stored as a fact, not asked for again',
      );
    }
    for (const { seq, type, problem } of committed.uninterpreted ?? []) {
      this.stats.uninterpreted += 1;
      this.deps.logger.warn(
        { device: batch.device, seq, type, problem: problem.slice(0, 300) },
        'event data does not match its type: stored and forwarded, not interpreted',
      );
    }
    this.deps.onBatch?.({
      kind: 'stored',
      records: records.length,
      stored: committed.inserted,
      uninterpreted: committed.uninterpreted?.length ?? 0,
      commitSeconds,
    });
    await this.ack(batch.school, batch.device, committed);
  }

  private async ack(school: string, device: string, point: { seq: number; hash: string }): Promise<void> {
    const ack: EventAck = {
      v: SPEC_VERSION,
      device,
      seq: point.seq,
      hash: point.hash,
      at: new Date().toISOString(),
    };
    await publishToDevice(this.deps.client, topics.ack(school, device), JSON.stringify(ack), {
      retain: this.deps.retainAcks ?? true,
    });
  }

  /**
   * Withdraws the retained ack of a device (an empty retained message clears it), after the device
   * started a new epoch: the ack was for its old chain, and the new one must never be acknowledged by it.
   */
  async withdrawAck(school: string, device: string): Promise<void> {
    await this.deps.client.publishAsync(topics.ack(school, device), '', { qos: 1, retain: true });
  }

  /** Asks the device to resend from `fromSeq`, at most once per `resendEveryMs`; true when it asked. */
  private askResend(school: string, device: string, fromSeq: number): boolean {
    const now = Date.now();
    if (now - (this.lastResend.get(device) ?? 0) < (this.deps.resendEveryMs ?? 1000)) return false;
    this.lastResend.set(device, now);
    this.deps.logger.info({ device, fromSeq }, 'gap in events: asking the device to resend');
    this.deps.commands
      .send(school, device, { name: 'events.resend', args: { fromSeq } })
      .catch((error: unknown) => this.deps.logger.warn({ err: error, device }, 'resend request not sent'));
    return true;
  }

  /**
   * A birth or death. `retained` is a state the broker kept from before this bridge subscribed: it is
   * recorded, but only a live birth is answered, so a restarted bridge does not answer the whole fleet.
   */
  private onState(topic: { school: string; device: string }, payload: Buffer, retained: boolean): void {
    if (payload.length === 0) return;
    const parsed = parseMessage(DeviceState, payload.subarray(0, MAX_MESSAGE_BYTES + 1));
    if (!parsed.ok || parsed.value.device !== topic.device) {
      this.deps.logger.warn(
        { device: topic.device, reason: parsed.ok ? 'device differs from topic' : parsed.error },
        'device state rejected',
      );
      return;
    }
    const state = parsed.value;
    const { v: _v, device: _d, school: _s, want: _w, ...presence } = state;
    const taken = this.deps.store.recordPresence(topic.device, {
      ...presence,
      at: state.at ?? new Date().toISOString(),
    });
    if (!taken) {
      this.deps.logger.info(
        { device: topic.device, bdSeq: state.bdSeq },
        'stale device state ignored (older bdSeq)',
      );
      return;
    }
    if (state.online && state.want?.length && !retained) this.deps.onBirth?.(state);
    this.deps.onState?.(topic.device, topic.school, state);
  }
}

/**
 * The break a batch declares, when it explains the gap (or the broken link) before its first record:
 * the lost range ends just before `from` and reaches back to the cursor. A batch that needs no
 * explanation, or declares a break that does not cover what is missing, declares nothing.
 */
function declaredLoss(
  batch: EventBatch,
  records: EventRecord[],
  cursor: ChainPoint,
): DeclaredLoss | undefined {
  const lost = batch.lost;
  const first = records[0] as EventRecord;
  if (!lost || batch.from <= cursor.seq) return undefined;
  const linked = batch.from === cursor.seq + 1 && first.prev === cursor.hash;
  if (linked || lost.lastSeq !== batch.from - 1 || lost.firstSeq > cursor.seq + 1) return undefined;
  return { ...lost, resumeHash: first.prev };
}
