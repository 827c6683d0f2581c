import type {
  Direction,
  StationKind,
  StationTap,
  TerminalReply,
  TerminalRequest,
} from '@educard/terminal-sdk';
import type { CardPresented } from '../readers/index.js';

/** What a station answers a terminal: the terminal layer adds the envelope (v, id, at). */
export type StationReply = Omit<TerminalReply, 'v' | 'id' | 'at'>;

/**
 * A library desk or a computer room, as the runtime drives it: cards from its readers, requests from
 * its terminals, and what its kiosk shows. (The gate keeps its own, faster path: GateStation.)
 */
export interface TerminalStation {
  readonly id: string;
  readonly kind: Exclude<StationKind, 'gate'>;
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
