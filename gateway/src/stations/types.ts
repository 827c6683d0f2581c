import type {
  CardEntry,
  DecisionFlag,
  DenyReason,
  Direction,
  EventBody,
  EventRecord,
  ItemPresented,
  StationKind,
  StationTap,
  TerminalReply,
  TerminalRequest,
} from '@educard/terminal-sdk';
import type { TrustedClock } from '../clock/index.js';
import type { GatewayConfig, StationConfig } from '../config/index.js';
import type { GateActuators } from '../io/index.js';
import type { Journal } from '../journal/index.js';
import type { Logger } from '../log/index.js';
import type { CardPresented } from '../readers/index.js';
import type { RosterStore } from '../roster/index.js';
import type { UplinkDeps } from '../uplink/index.js';
import type { VenueData } from './venue/data.js';

/** What any station made of a tap: granted or denied, why, and whose card it was. */
export interface StationDecision {
  decision: 'grant' | 'deny';
  /** `ok`, a policy's deny reason, or the station's own refusal (a lab's `room-full`). */
  reason: string;
  /** The card id or number, or the UID of a card that showed nothing more. */
  cardId: string;
  /** The roster's entry, where the station has a roster and the card is on it. */
  card?: CardEntry;
  /** What the policy noted of the card (`uid-only`, `clock-unsynced`), where a policy decided. */
  flags?: DecisionFlag[];
}

/** What a door's station made of a tap: the gate's decision, or a venue's. */
export interface DoorDecision extends StationDecision {
  reason: 'ok' | DenyReason;
  flags: DecisionFlag[];
  credential: 'uid' | 'edu-cpu';
}

/** One tap's outcome, as every station reports it on its event bus once it has acted. */
export interface TapOutcome<D extends StationDecision = StationDecision> {
  decision: D;
  /** The journaled record of the tap, where the station journals one (a door journals every tap). */
  record?: EventRecord;
  reader: string;
  at: string;
  /** performance.now() when the station acted (the actuator commanded, the answer made). */
  actedAt: number;
  /** What the station's terminals see of the tap (a library desk, a computer room). */
  terminal?: StationTap;
}

export interface DoorTap<D extends DoorDecision = DoorDecision> extends TapOutcome<D> {
  record: EventRecord;
}

export interface RecentTap {
  at: string;
  card: string;
  personId?: string;
  decision: 'grant' | 'deny';
  reason: string;
  reader: string;
}

export interface StationEvents<T extends TapOutcome = TapOutcome> extends Record<string, unknown> {
  tap: T;
  /** A tagged item (a book's tag) the station took from one of its readers. */
  item: ItemPresented;
}

/** The listening side of a station's event bus (a method, so a gate's bus serves where any station's is asked for). */
export interface StationEventSource<T extends TapOutcome = TapOutcome> {
  on<K extends keyof StationEvents<T>>(
    event: K,
    listener: (payload: StationEvents<T>[K]) => void,
  ): () => void;
}

/**
 * The gateway's unit of extension (after zigbee2mqtt's extensions): a gate, a venue, a library desk
 * or a computer room. The runtime makes exactly one, from `station.type`, starts it after the
 * journal and roster and stops it before them, feeds it cards and items from the readers, and hears
 * every tap's outcome on `events` (the control socket's live taps, metrics, terminals, the demo).
 */
export interface Station<T extends TapOutcome = TapOutcome> {
  readonly id: string;
  readonly kind: StationKind;
  readonly events: StationEventSource<T>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A card at one of its readers: what it decided, or nothing (a repeat within the debounce, a reader it ignores). */
  tap(card: CardPresented, reader: { name: string; direction: Direction }): T | undefined;
  /** A tagged item at one of its readers: whether the station takes it (only a library desk does). */
  item?(reader: string, itemId: string, at: string): boolean;
  /** Its last taps, newest last, the card masked: for `educard status`. */
  recentTaps(): RecentTap[];
  /** A terminal's request, already checked against the contract: stations with terminals only. */
  handle?(request: TerminalRequest): Promise<StationReply>;
  /** What the station's kiosk shows now (retained on its view topic), if it has one. */
  view?(): Record<string, unknown>;
  /** Called when the view changes, so the terminal layer can publish it. */
  onViewChange?(listener: () => void): void;
  /**
   * Why the gateway must not restart now (a transaction open, a patron at the desk), or nothing: the
   * update lock asks the station before it switches releases.
   */
  busy?(): string | undefined;
}

/** What a station answers a terminal: the terminal layer adds the envelope (v, id, at). */
export type StationReply = Omit<TerminalReply, 'v' | 'id' | 'at'>;

/** A station as its terminals reach it through the terminal hub: a library desk or a computer room. */
export interface TerminalStation {
  readonly id: string;
  readonly kind: Exclude<StationKind, 'gate' | 'venue'>;
  handle(request: TerminalRequest): Promise<StationReply>;
  view?(): Record<string, unknown>;
  onViewChange?(listener: () => void): void;
}

/** What the runtime hands a station's factory: the parts every station may use. */
export interface StationContext {
  config: GatewayConfig;
  roster: RosterStore;
  clock: TrustedClock;
  journal: Journal;
  io: GateActuators;
  logger: Logger;
  /** Appends an event stamped with the clock: for events that are not taps. */
  record(event: Omit<EventBody, 'at' | 'clock'>): EventRecord;
  /** Whether the gate is in lockdown (its switch, or the bridge's order): entries refused. */
  lockedDown(): boolean;
}

/** What the uplink feeds a station's own signed data to (a desk's catalogue, a venue's hotlist and plan). */
export type StationFeeds = Pick<UplinkDeps, 'catalogue' | 'venue'>;

/** A station made by its factory, with the signed data it takes from the uplink. */
export interface StationBuild {
  station: Station;
  feeds?: StationFeeds;
  /** What `educard status` shows of the station's own data (a venue's hotlist, plan and day), under its type. */
  report?(now: number): Record<string, unknown>;
  /** A venue's hotlist and plan stores. */
  venue?: VenueData;
}

/** Makes the station of one type from its settings; one per folder under stations/. */
export type StationFactory<K extends StationConfig['type']> = (
  settings: Extract<StationConfig, { type: K }>,
  context: StationContext,
) => Promise<StationBuild>;
