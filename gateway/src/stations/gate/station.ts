import type { ClockStamp, Direction, EventBody, EventRecord } from '@educard/terminal-sdk';
import type { EventBus } from '../../events/index.js';
import type { Logger } from '../../log/index.js';
import {
  type ClockReading,
  type Decision,
  decide,
  type PassbackState,
  type PolicyConfig,
} from '../../policy/index.js';
import type { CardPresented } from '../../readers/index.js';
import type { RosterView } from '../../roster/index.js';
import { StationTaps } from '../taps.js';
import type { DoorTap, RecentTap, Station, StationEvents } from '../types.js';

/** What the gate does with its hands: the IO layer implements it. Both return at once. */
export interface GateActions {
  grant(): void;
  deny(): void;
}

/** Where events go: the journal implements it, synchronously, durability following by group commit. */
export interface EventSink {
  append(body: EventBody): EventRecord;
}

export interface GateStationConfig {
  id: string;
  zone: string;
  /** The same card on the same reader again within this long is one tap. */
  debounceMs: number;
}

export interface GateStationDeps {
  config: GateStationConfig;
  policy: PolicyConfig;
  roster: () => RosterView | undefined;
  clock: { read(): ClockReading; stamp(reading: ClockReading): ClockStamp };
  actions: GateActions;
  journal: EventSink;
  passback: PassbackState;
  /** Whether the gate is in lockdown (its switch, or the bridge's order). */
  lockdown: () => boolean;
  logger: Logger;
}

export type TapOutcome = DoorTap<Decision>;
export type { RecentTap };

/**
 * One gate: the path of a tap from card to relay. Decides from memory, acts at once, then journals
 * (an append that returns without waiting for the disk) and logs, never with a full card id.
 */
export class GateStation implements Station<TapOutcome> {
  readonly kind = 'gate' as const;
  private readonly taps: StationTaps<TapOutcome>;

  constructor(private readonly deps: GateStationDeps) {
    this.taps = new StationTaps(deps.config.debounceMs, deps.logger);
  }

  get id(): string {
    return this.deps.config.id;
  }

  /** Every tap's outcome, after the gate has acted: for terminals, pages and the demo. */
  get events(): EventBus<StationEvents<TapOutcome>> {
    return this.taps.events;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}

  /** Handles a card presented at a reader bound to this gate; nothing when it repeats a recent tap. */
  tap(card: CardPresented, reader: { name: string; direction: Direction }): TapOutcome | undefined {
    const { config, policy, clock, actions, journal, passback } = this.deps;
    const seenAt = performance.now();
    if (this.taps.repeats(reader.name, card, seenAt)) return undefined;

    const reading = clock.read();
    const place = { zone: config.zone, direction: reader.direction, lockdown: this.deps.lockdown() };
    const roster = this.deps.roster();
    const decision = decide(card, place, roster, reading, passback, policy);
    if (decision.decision === 'grant') actions.grant();
    else actions.deny();
    const actedAt = performance.now();

    if (decision.decision === 'grant' && decision.card) {
      passback.record(decision.card.personId, config.zone, reader.direction, reading.now);
    }
    const record = journal.append({
      type: 'gate.decision',
      at: new Date(reading.now).toISOString(),
      ...clock.stamp(reading),
      data: {
        station: config.id,
        reader: reader.name,
        zone: config.zone,
        direction: reader.direction,
        cardId: decision.cardId,
        credential: decision.credential,
        ...(decision.card
          ? { personId: decision.card.personId, role: decision.card.role, cardStatus: decision.card.status }
          : {}),
        decision: decision.decision,
        reason: decision.reason,
        flags: decision.flags,
        rosterVersion: roster?.version ?? 0,
      },
    });
    return this.taps.report({ decision, record, reader: reader.name, at: record.at, actedAt }, seenAt, 'tap');
  }

  recentTaps(): RecentTap[] {
    return this.taps.list();
  }
}
