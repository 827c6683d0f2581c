import {
  type Command,
  type DeviceState,
  type HotlistSnapshotMessage,
  MAX_MESSAGE_BYTES,
  type RosterKeySetsMessage,
  type RosterVariant,
  SPEC_VERSION,
  type SyncReply,
  topics,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { publishToDevice } from '../broker/index.js';
import type { CatalogueService } from '../library/index.js';
import type { RosterMessages } from '../roster/index.js';
import type { BridgeStore } from '../store/index.js';

export interface DeviceSyncDeps {
  store: BridgeStore;
  client: MqttClient;
  roster: { currentMessages(school: string, variant?: RosterVariant): RosterMessages | undefined };
  catalogue: Pick<CatalogueService, 'currentMessage'>;
  /** Every key set, for a device whose school has no roster (a venue's). */
  keySets: () => RosterKeySetsMessage;
  /** The district hotlist's latest snapshot message, for a venue. */
  hotlist: { currentMessage(): HotlistSnapshotMessage | undefined };
  /** The school's lockdown as a signed order for the device, for a gate. */
  lockdown: { commandFor(school: string, device: string): Command | undefined };
  logger: Logger;
}

/**
 * Answers a birth that asks for what the device needs (DeviceState.want) on the device's own `sync`
 * topic, so no device depends on retained messages reaching the node it is connected to. It sends
 * only what the device lacks by the versions its birth reports; the ack always, when there is one.
 */
export class DeviceSync {
  answered = 0;

  constructor(private readonly deps: DeviceSyncDeps) {}

  answer(state: DeviceState): void {
    const { store, logger } = this.deps;
    const device = store.getDevice(state.device);
    if (!device || device.revokedAt || device.school !== state.school) {
      logger.warn(
        { device: state.device, school: state.school },
        'sync asked by a device not enrolled in that school',
      );
      return;
    }
    const reply = this.replyTo(state);
    let payload = JSON.stringify(reply);
    // A large delta stays out: the device fetches the snapshot body over HTTP instead.
    if (payload.length > MAX_MESSAGE_BYTES && reply.rosterDelta) {
      delete reply.rosterDelta;
      payload = JSON.stringify(reply);
    }
    publishToDevice(this.deps.client, topics.sync(state.school, state.device), payload).catch(
      (error: unknown) => logger.warn({ device: state.device, err: error }, 'sync answer not published'),
    );
    this.answered += 1;
  }

  private replyTo(state: DeviceState): SyncReply {
    const want = new Set(state.want);
    const reply: SyncReply = {
      v: SPEC_VERSION,
      device: state.device,
      bdSeq: state.bdSeq,
      at: new Date().toISOString(),
    };
    if (want.has('ack')) {
      const cursor = this.deps.store.cursor(state.device);
      if (cursor.seq > 0)
        reply.ack = {
          v: SPEC_VERSION,
          device: state.device,
          seq: cursor.seq,
          hash: cursor.hash,
          at: reply.at,
        };
    }
    const roster = this.deps.roster.currentMessages(state.school, state.rosterVariant);
    if (want.has('keySets')) reply.keySets = roster?.keySets ?? this.deps.keySets();
    if (roster && want.has('roster') && roster.version > (state.rosterVersion ?? 0)) {
      reply.rosterSnapshot = roster.snapshot;
      const from = (roster.delta?.manifest.signed as { body?: { fromVersion?: number } } | undefined)?.body
        ?.fromVersion;
      if (roster.delta && from === (state.rosterVersion ?? 0)) reply.rosterDelta = roster.delta;
    }
    const catalogue = want.has('catalogue') ? this.deps.catalogue.currentMessage(state.school) : undefined;
    const catalogueVersion = (catalogue?.manifest.signed as { version?: number } | undefined)?.version ?? 0;
    if (catalogue && catalogueVersion > (state.catalogueVersion ?? 0)) reply.catalogue = catalogue;
    // The version a venue holds is not in its birth: it fetches the body only when it is behind.
    const hotlist = want.has('hotlist') ? this.deps.hotlist.currentMessage() : undefined;
    if (hotlist) reply.hotlist = hotlist;
    const lockdown = want.has('lockdown')
      ? this.deps.lockdown.commandFor(state.school, state.device)
      : undefined;
    if (lockdown) reply.lockdown = lockdown;
    return reply;
  }
}
