import type { Command, DeviceState, UpdateOffer } from '@educard/terminal-sdk';
import type { CatalogueAcceptResult, CatalogueBodySource } from '../catalogue/index.js';
import type { HotlistAcceptResult, HotlistBodySource } from '../hotlist/index.js';
import type { DeviceIdentity } from '../identity/index.js';
import type { Journal } from '../journal/index.js';
import type { Logger } from '../log/index.js';
import type { AcceptResult, BodySource, RosterStore } from '../roster/index.js';
import type { UplinkConfig } from './config.js';

export interface UplinkDeps {
  config: UplinkConfig;
  device: string;
  school: string;
  dataDir: string;
  identity: DeviceIdentity;
  journal: Journal;
  roster: RosterStore;
  /** Applies a roster update and journals the outcome (the gateway's acceptRoster). */
  acceptRoster: (manifest: Uint8Array, body: BodySource) => Promise<AcceptResult>;
  /** What a birth message and a status report carry. */
  status: () => Omit<DeviceState, 'v' | 'device' | 'school' | 'online' | 'bdSeq'>;
  /** Runs the commands that act on the gateway itself (door.open, log.level, status.report, lockdown.set). */
  onCommand: (command: Command) => Promise<Record<string, unknown> | undefined>;
  /** A gate: it asks for its school's lockdown in every birth. */
  gate?: boolean;
  /**
   * The library catalogue: with these the uplink subscribes to the school's catalogue manifest,
   * fetches a newer body over HTTP and hands both over (the gateway's CatalogueStore.accept).
   */
  catalogue?: {
    accept: (manifest: Uint8Array, body: CatalogueBodySource) => Promise<CatalogueAcceptResult>;
    version: () => number;
  };
  /**
   * A venue's district hotlist (deltas in the message, snapshots fetched over HTTP) and its plan of
   * class visits: with these the uplink subscribes to them and hands each newer version over.
   */
  venue?: {
    hotlist: {
      accept: (manifest: Uint8Array, body: HotlistBodySource) => Promise<HotlistAcceptResult>;
      version: () => number;
    };
    plan: { accept: (manifest: Uint8Array, body: Uint8Array) => Promise<unknown>; version: () => number };
  };
  /** Software updates: the offers of the bridge go here, and each connect is told (to say progress again). */
  updates?: { offer: (offer: UpdateOffer) => void; connected: () => void };
  logger: Logger;
}

export interface UplinkStatus {
  connected: boolean;
  /** The next sequence number to send. */
  nextSeq: number;
  ackedSeq: number;
  inFlight: number;
  reconnects: number;
  /** Acks refused because they named no record of this journal (seq and hash). */
  refusedAcks: number;
  /** Commands refused: unsigned, not by a trusted command key, for another device, expired or replayed. */
  refusedCommands: number;
  lastError?: string;
}
