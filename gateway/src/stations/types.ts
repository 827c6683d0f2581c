import type {
  CardEntry,
  DecisionFlag,
  DenyReason,
  Direction,
  EventRecord,
  StationKind,
  StationTap,
  TerminalReply,
  TerminalRequest,
} from '@educard/terminal-sdk';
import type { EventBus } from '../events/index.js';
import type { CardPresented } from '../readers/index.js';

/** What a door's station made of a tap: the gate's decision, or a venue's. */
export interface DoorDecision {
  decision: 'grant' | 'deny';
  reason: 'ok' | DenyReason;
  flags: DecisionFlag[];
  /** The card id or number, or the UID of a card that showed nothing more. */
  cardId: string;
  credential: 'uid' | 'edu-cpu';
  /** The roster's entry, where the station has a roster. */
  card?: CardEntry;
}

export interface DoorTap<D extends DoorDecision = DoorDecision> {
  decision: D;
  record: EventRecord;
  /** performance.now() when the actuator was commanded. */
  actedAt: number;
}

export interface RecentTap {
  at: string;
  card: string;
  personId?: string;
  decision: 'grant' | 'deny';
  reason: string;
  reader: string;
}

/**
 * A station at a door, driving the gate's IO itself: a school gate, or a venue. Each tap is decided,
 * acted on and journaled at once; the runtime hears every outcome on `events`.
 */
export interface DoorStation {
  readonly events: EventBus<{ tap: DoorTap }>;
  /** A card at one of its readers: what it decided, or nothing for a repeat within the debounce. */
  tap(card: CardPresented, reader: { name: string; direction: Direction }): DoorTap | undefined;
  recentTaps(): RecentTap[];
  start?(): Promise<void>;
}

/** What a station answers a terminal: the terminal layer adds the envelope (v, id, at). */
export type StationReply = Omit<TerminalReply, 'v' | 'id' | 'at'>;

/**
 * A library desk or a computer room, as the runtime drives it: cards from its readers, requests from
 * its terminals, and what its kiosk shows. (The gate keeps its own, faster path: GateStation.)
 */
export interface TerminalStation {
  readonly id: string;
  readonly kind: Exclude<StationKind, 'gate' | 'venue'>;
  /** A card at one of the station's readers: the tap as its terminals see it, or nothing for a repeat. */
  tap(card: CardPresented, reader: { name: string; direction: Direction }): StationTap | undefined;
  /** A terminal's request, already checked against the contract. */
  handle(request: TerminalRequest): Promise<StationReply>;
  /** What the station's kiosk shows now (retained on its view topic), if it has one. */
  view?(): Record<string, unknown>;
  /** Called when the view changes, so the terminal layer can publish it. */
  onViewChange?(listener: () => void): void;
  start?(): Promise<void>;
  stop?(): Promise<void>;
  /**
   * Why the gateway must not restart now (a transaction open, a patron at the desk), or nothing: the
   * update lock asks every station before it switches releases.
   */
  busy?(): string | undefined;
}
