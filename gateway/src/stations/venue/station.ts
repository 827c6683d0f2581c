import type { Calendar, ClockStamp, Direction, EventRecord, Schedule } from '@educard/terminal-sdk';
import type { EventBus } from '../../events/index.js';
import type { HotlistView } from '../../hotlist/index.js';
import { type ReadableJournal, recordsSince } from '../../journal/index.js';
import type { Logger } from '../../log/index.js';
import {
  type ClockReading,
  checkCertifiedCard,
  dayStart,
  GENUINE_CARD_REASONS,
  type LocalTime,
  localTime,
  minutesOf,
  scheduleAllows,
  type VenueDecision,
} from '../../policy/index.js';
import type { CardPresented } from '../../readers/index.js';
import type { EventSink, GateActions } from '../gate/index.js';
import { StationTaps } from '../taps.js';
import type { DoorTap, RecentTap, Station, StationEvents } from '../types.js';
import type { VenueConfig } from './config.js';
import type { VenuePlanView } from './plan.js';

export interface VenueStationDeps {
  config: VenueConfig;
  /** The card issuers of the key set in force, and the hotlist in force. */
  trust: () => { issuers: ReadonlyMap<string, Uint8Array>; hotlist: HotlistView | undefined };
  /** The class visits booked at the bridge, when a plan has come. */
  plan: () => VenuePlanView | undefined;
  clock: { read(): ClockReading; stamp(reading: ClockReading): ClockStamp };
  actions: GateActions;
  journal: EventSink & ReadableJournal;
  logger: Logger;
}

export type VenueTap = DoorTap<VenueDecision>;

/** What a venue's rules made of a genuine card at its entry. */
type Admission =
  | { ok: true; booking?: string; teacher?: boolean; reentry?: boolean }
  | { ok: false; reason: 'venue-closed' | 'venue-full' | 'class-not-admitted' };

interface Visit {
  enteredAt: number;
  booking?: string;
  /** Counted against the day's places for visitors who came on their own. */
  public: boolean;
}

/** UIDs of genuine cards remembered, to know a UID-only copy of one: about 5 MB at most. */
const REMEMBERED_UIDS = 50_000;

/** What the venue counts today, for `educard status` and its log. */
export interface VenueDayStatus {
  day: string;
  visits: number;
  publicVisits: number;
  capacity?: number;
  inside: number;
  classesAdmitted: string[];
}

/**
 * A venue's door (docs/venues.md). A card is admitted by what it proves (checkCertifiedCard: its
 * issuer's certificate, its challenge signature, its days, the hotlist), then by the venue's rules:
 * opening hours and closures, the day's capacity, and class visits booked at the bridge, which a
 * teacher of the class admits with a tap and whose pupils then tap in whenever the venue is. Each
 * admission is a `venue.visit` event (card number, issuer, day; no name), each refusal a
 * `venue.refused`, each way out a `venue.exit`. The day's visits are rebuilt from the journal at
 * start, so a restart neither forgets the capacity used nor counts a visitor twice.
 */
export class VenueStation implements Station<VenueTap> {
  readonly kind = 'venue' as const;
  private readonly taps: StationTaps<VenueTap>;
  private readonly opening: Schedule;
  private readonly calendar: Calendar;
  private day = '';
  private readonly visits = new Map<string, Visit>();
  private readonly inside = new Set<string>();
  private readonly classesAdmitted = new Set<string>();
  private publicVisits = 0;
  private readonly genuineUids = new Map<string, string>();

  constructor(private readonly deps: VenueStationDeps) {
    const { config } = deps;
    this.taps = new StationTaps(config.debounceMs, deps.logger);
    this.opening = { id: 'opening-hours', windows: config.hours, onHolidays: false };
    this.calendar = { timeZone: config.timeZone, holidays: [], closures: config.closures, makeUpDays: [] };
  }

  get id(): string {
    return this.deps.config.id;
  }

  get events(): EventBus<StationEvents<VenueTap>> {
    return this.taps.events;
  }

  async stop(): Promise<void> {}

  /** Rebuilds today's visits from the journal. */
  async start(): Promise<void> {
    const { config, clock, journal, logger } = this.deps;
    const now = clock.read().now;
    this.rollDay(localTime(now, config.timeZone).date);
    for (const record of await recordsSince(journal, dayStart(now, config.timeZone))) this.replay(record);
    logger.info({ venue: config.id, ...this.status() }, 'venue day rebuilt from the journal');
  }

  tap(card: CardPresented, reader: { name: string; direction: Direction }): VenueTap | undefined {
    const { config, clock, actions, journal } = this.deps;
    const seenAt = performance.now();
    if (this.taps.repeats(reader.name, card, seenAt)) return undefined;
    const reading = clock.read();
    const local = localTime(reading.now, config.timeZone);
    this.rollDay(local.date);
    const verdict = checkCertifiedCard(
      card,
      { ...this.deps.trust(), genuineUid: (uid) => this.genuineUids.has(uid) },
      reading,
      config,
    );
    const genuine = verdict.decision === 'grant' || GENUINE_CARD_REASONS.has(verdict.reason);
    if (genuine && verdict.credential === 'edu-cpu') this.rememberUid(card.uid, verdict.cardId);
    const exit = reader.direction === 'out';
    let decision = verdict;
    let admission: Admission | undefined;
    if (exit && genuine && verdict.decision === 'deny') decision = { ...verdict, decision: 'grant' };
    else if (!exit && verdict.decision === 'grant') {
      admission = this.admission(verdict.cardId, local);
      if (!admission.ok) decision = { ...verdict, decision: 'deny', reason: admission.reason };
    }
    if (decision.decision === 'grant') actions.grant();
    else actions.deny();
    const actedAt = performance.now();

    const record = journal.append(this.eventOf(decision, admission, exit, reader.name, reading, local.date));
    return this.taps.report(
      { decision, record, reader: reader.name, at: record.at, actedAt },
      seenAt,
      'venue tap',
      { exit },
    );
  }

  recentTaps(): RecentTap[] {
    return this.taps.list();
  }

  status(): VenueDayStatus {
    const { capacity } = this.deps.config;
    return {
      day: this.day,
      visits: this.visits.size,
      publicVisits: this.publicVisits,
      ...(capacity !== undefined ? { capacity } : {}),
      inside: this.inside.size,
      classesAdmitted: [...this.classesAdmitted],
    };
  }

  /** The journal's event for a tap; its effect on the day's counts is the same as replaying it. */
  private eventOf(
    decision: VenueDecision,
    admission: Admission | undefined,
    exit: boolean,
    reader: string,
    reading: ClockReading,
    day: string,
  ) {
    const { config, clock } = this.deps;
    const stamp = { at: new Date(reading.now).toISOString(), ...clock.stamp(reading) };
    const venue = config.id;
    const issuer = decision.issuer as string;
    if (decision.decision === 'deny') {
      const data = {
        venue,
        reader,
        cardId: decision.cardId,
        credential: decision.credential,
        ...(decision.issuer ? { issuer: decision.issuer } : {}),
        day,
        reason: decision.reason as Exclude<VenueDecision['reason'], 'ok'>,
        flags: decision.flags,
      };
      return { type: 'venue.refused' as const, ...stamp, data };
    }
    if (exit) {
      const visit = this.visits.get(decision.cardId);
      const data = {
        venue,
        reader,
        cardId: decision.cardId,
        issuer,
        day,
        ...(visit
          ? {
              enteredAt: new Date(visit.enteredAt).toISOString(),
              minutes: Math.max(0, Math.floor((reading.now - visit.enteredAt) / 60_000)),
            }
          : {}),
      };
      this.inside.delete(decision.cardId);
      return { type: 'venue.exit' as const, ...stamp, data };
    }
    const admitted = admission?.ok ? admission : { ok: true as const };
    const data = {
      venue,
      reader,
      cardId: decision.cardId,
      issuer,
      day,
      ...(admitted.booking ? { booking: admitted.booking } : {}),
      ...(admitted.teacher ? { teacher: true } : {}),
      ...(admitted.reentry ? { reentry: true } : {}),
      flags: decision.flags,
    };
    this.count(data, reading.now);
    return { type: 'venue.visit' as const, ...stamp, data };
  }

  /** The venue's rules for a genuine, unrevoked card at its entry. */
  private admission(cardId: string, local: LocalTime): Admission {
    const held = this.visits.get(cardId);
    const visits = this.deps.plan()?.visitsOn(local.date) ?? [];
    const early = this.deps.config.admitEarlyMinutes;
    const inSlot = (visit: (typeof visits)[number]) =>
      local.minutes >= minutesOf(visit.from) - early && local.minutes < minutesOf(visit.until);
    const asTeacher = visits.find((visit) => inSlot(visit) && visit.teachers.includes(cardId));
    if (asTeacher)
      return { ok: true, booking: asTeacher.bookingId, teacher: true, ...(held ? { reentry: true } : {}) };
    const asPupil = visits.find((visit) => inSlot(visit) && visit.pupils.includes(cardId));
    if (asPupil) {
      if (!this.classesAdmitted.has(asPupil.bookingId)) return { ok: false, reason: 'class-not-admitted' };
      return { ok: true, booking: asPupil.bookingId, ...(held ? { reentry: true } : {}) };
    }
    if (!scheduleAllows(this.opening, this.calendar, local)) return { ok: false, reason: 'venue-closed' };
    if (held) return { ok: true, reentry: true };
    const { capacity } = this.deps.config;
    const reserved = visits.reduce((sum, visit) => sum + visit.pupils.length + visit.teachers.length, 0);
    if (capacity !== undefined && this.publicVisits + reserved >= capacity)
      return { ok: false, reason: 'venue-full' };
    return { ok: true };
  }

  /** A visit's effect on the day: counted once a card a day, its class admitted by a teacher's tap. */
  private count(data: { cardId: string; booking?: string; teacher?: boolean }, at: number): void {
    this.inside.add(data.cardId);
    if (data.teacher && data.booking) this.classesAdmitted.add(data.booking);
    if (this.visits.has(data.cardId)) return;
    const visit: Visit = { enteredAt: at, public: data.booking === undefined };
    if (data.booking) visit.booking = data.booking;
    this.visits.set(data.cardId, visit);
    if (visit.public) this.publicVisits += 1;
  }

  private replay(record: EventRecord): void {
    const data = record.data as { venue?: unknown; day?: unknown; cardId?: unknown };
    if (data.venue !== this.deps.config.id || data.day !== this.day || typeof data.cardId !== 'string')
      return;
    if (record.type === 'venue.visit') this.count(record.data as { cardId: string }, Date.parse(record.at));
    else if (record.type === 'venue.exit') this.inside.delete(data.cardId);
  }

  private rollDay(day: string): void {
    if (day === this.day) return;
    this.day = day;
    this.visits.clear();
    this.inside.clear();
    this.classesAdmitted.clear();
    this.publicVisits = 0;
  }

  private rememberUid(uid: string, cardNumber: string): void {
    this.genuineUids.delete(uid);
    this.genuineUids.set(uid, cardNumber);
    if (this.genuineUids.size > REMEMBERED_UIDS) {
      const oldest = this.genuineUids.keys().next().value as string;
      this.genuineUids.delete(oldest);
    }
  }
}
