import type { CardProof } from '@educard/terminal-sdk';
import type { EventBus } from '../events/index.js';

/** A card on a reader, as far as the driver and the card profile could tell. */
export interface CardPresented {
  reader: string;
  uid: string;
  /** For a CPU card: what the card proved, to be checked against the roster. */
  proof?: CardProof;
  /** When the card profile could not finish: the tap ends denied with this reason. */
  failure?: 'card-unreadable' | 'card-removed' | 'card-auth-failed';
  /** performance.now() when the driver first saw the card. */
  detectedAt: number;
}

/**
 * A tagged item on a reader: a library book's ISO 15693 tag, read by its UID. Nobody tapped: it is
 * what a barcode scanner would have typed, not a card.
 */
export interface TagPresented {
  reader: string;
  /** The tag's UID, hex, most significant byte first (`E004…`). */
  itemId: string;
  /** performance.now() when the driver first saw the tag. */
  detectedAt: number;
}

export interface ReaderStatus {
  name: string;
  connected: boolean;
  cardPresent: boolean;
  lastError?: string;
}

export interface ReaderEvents extends Record<string, unknown> {
  'reader-added': { reader: string };
  'reader-removed': { reader: string };
  card: CardPresented;
  item: TagPresented;
  'card-removed': { reader: string };
  error: { reader?: string; message: string };
}

/**
 * What every card reader driver offers: readers coming and going at any time (hot-plug, several per
 * gateway, each with one slot for a card), cards presented and removed, and errors reported rather
 * than thrown. The PC/SC driver and the simulated one both implement it.
 */
export interface ReaderDriver {
  readonly events: EventBus<ReaderEvents>;
  start(): Promise<void>;
  stop(): Promise<void>;
  readers(): ReaderStatus[];
}
