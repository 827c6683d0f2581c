import { randomUUID } from 'node:crypto';
import {
  type CardEntry,
  type ClockStamp,
  type Direction,
  type EventBody,
  type EventRecord,
  SPEC_VERSION,
  type StationTap,
  type TerminalRequest,
} from '@educard/terminal-sdk';
import type { EventBus } from '../../events/index.js';
import { type ReadableJournal, recordsSince } from '../../journal/index.js';
import { type Logger, maskCardId } from '../../log/index.js';
import {
  type ClockReading,
  type Decision,
  decide,
  PassbackState,
  type PolicyConfig,
} from '../../policy/index.js';
import type { CardPresented } from '../../readers/index.js';
import type { RosterView } from '../../roster/index.js';
import type { EventSink } from '../gate/index.js';
import { StationTaps } from '../taps.js';
import type {
  RecentTap,
  Station,
  StationEvents,
  StationReply,
  TapOutcome,
  TerminalStation,
} from '../types.js';
import type { LabConfig } from './config.js';
import { LabHours } from './hours.js';
import { type Outcome, patronOf, refusal, refuse, signInDetail } from './outcomes.js';
import { LabPlaces } from './places.js';
import { type LabBooking, LabRoom, type LabSession, type RoomChange, type SignOutReason } from './room.js';
import { dayStart, iso, wholeMinutes } from './time.js';
import { type LabView, labView } from './view.js';

/** The journal as the lab uses it: appends that return at once, durability, and reads for a restart. */
export interface LabJournal extends EventSink, ReadableJournal {}

export interface LabStationDeps {
  config: LabConfig;
  roster: () => RosterView | undefined;
  clock: { read(): ClockReading; stamp(reading: ClockReading): ClockStamp };
  journal: LabJournal;
  /** The gateway's policy; anti-passback does not apply in a room (sign-in and sign-out pair up instead). */
  policy: PolicyConfig;
  logger: Logger;
  /** A monotonic clock in milliseconds, for the debounce; performance.now() by default. */
  now?: () => number;
  /**
   * The active card of a person, for a terminal's sign-in by person id. Without it, only people whose
   * card has been tapped at this station since it started (or who sat here today) can be named.
   */
  people?: (personId: string) => CardEntry | undefined;
  /** Runs `task` every `ms` until the returned function is called; setInterval (unref'd) by default. */
  every?: (ms: number, task: () => void) => () => void;
}

/** Deny reasons of a card that is the person's and genuine, but may not be used now: it may still sign out. */
const SIGN_OUT_ANYWAY = new Set<Decision['reason']>([
  'outside-schedule',
  'not-in-zone',
  'not-yet-valid',
  'expired',
  'roster-stale',
  'clock-untrusted',
]);
const REMEMBERED_PEOPLE = 10_000;
const REMEMBERED_TXNS = 10_000;

const defaultEvery = (ms: number, task: () => void) => {
  const timer = setInterval(task, ms);
  timer.unref();
  return () => clearInterval(timer);
};

/**
 * A computer room. A tap at the door signs a person in to the first free seat, or out; a tap at a
 * seat's reader signs in to that seat, or out. A teacher's tap at the door books the room for the
 * teacher's class for the lesson under way (or the next), and a second tap ends the booking; during
 * a booked lesson only students of that class may sign in. Sessions end at their role's limit and
 * everyone is signed out at closing time. Every change is appended to the journal before it is
 * applied in memory; at start the day's sessions and bookings are rebuilt from the journal.
 */
export class LabStation implements Station, TerminalStation {
  readonly kind = 'lab' as const;
  readonly id: string;
  /** Who sits where and the day's bookings: changed only by applying the records the station journals. */
  private readonly room: LabRoom;
  /** Person id → card id of cards seen here, to find a person a terminal names. */
  private readonly seen = new Map<string, string>();
  private readonly replies = new Map<string, Promise<StationReply>>();
  private readonly taps: StationTaps<TapOutcome>;
  private readonly places: LabPlaces;
  private readonly listeners = new Set<() => void>();
  /** The school day as the room keeps it: its lessons, its closing time, the school's time zone. */
  private readonly hours: LabHours;
  private readonly policy: PolicyConfig;
  private readonly passback = new PassbackState();
  private readonly monotonic: () => number;
  private lastView = '';
  private stopTimer: (() => void) | undefined;
  private open = 0;

  constructor(private readonly deps: LabStationDeps) {
    const { config } = deps;
    this.hours = new LabHours(config, deps.roster);
    this.id = config.id;
    this.room = new LabRoom({
      station: config.id,
      seats: config.seats.map((seat) => seat.id),
      closing: this.hours.closing,
      timeZone: () => this.hours.timeZone(),
      card: (cardId) => this.deps.roster()?.byCardId(cardId),
      nameOf: (personId) => this.person(personId)?.displayName,
      logger: deps.logger,
    });
    this.places = new LabPlaces(config, deps.logger);
    this.policy = { ...deps.policy, passback: { ...deps.policy.passback, mode: 'off' } };
    this.monotonic = deps.now ?? (() => performance.now());
    this.taps = new StationTaps(config.debounceMs, deps.logger);
  }

  /** Rebuilds today's sessions and bookings from the journal, ends those already over, starts the checks. */
  async start(): Promise<void> {
    await this.rebuild();
    this.check();
    this.stopTimer ??= (this.deps.every ?? defaultEvery)(this.deps.config.checkEveryMs, () => this.check());
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    this.stopTimer = undefined;
  }

  /**
   * Ends sessions past their limit or their day's closing time, each with a `lab.signout` event, and
   * tells the view's listeners when what the kiosk shows has changed (minutes left included). Run
   * every `checkEveryMs`, and before every tap and request.
   */
  check(): void {
    try {
      const reading = this.deps.clock.read();
      this.sweep(reading);
      this.publishIfChanged(reading.now);
    } catch (error) {
      this.deps.logger.error({ err: error, station: this.id }, 'lab check failed');
    }
  }

  tap(card: CardPresented, reader: { name: string; direction: Direction }): TapOutcome | undefined {
    const { config } = this.deps;
    const place = this.places.of(reader.name);
    if (!place) return undefined;
    const seenAt = this.monotonic();
    if (this.taps.repeats(reader.name, card, seenAt)) return undefined;

    const reading = this.deps.clock.read();
    this.sweep(reading);
    const roster = this.deps.roster();
    const decision = decide(
      card,
      { zone: config.zone, direction: reader.direction },
      roster,
      reading,
      this.passback,
      this.policy,
    );
    const entry = decision.card;
    let outcome: Outcome;
    if (entry && decision.decision === 'grant') {
      this.remember(entry.personId, entry.cardId);
      outcome = place === 'door' ? this.atDoor(entry, reading) : this.atSeat(entry, place.seat, reading);
    } else if (entry && SIGN_OUT_ANYWAY.has(decision.reason) && this.room.sessionOf(entry.personId)) {
      // Their own, genuine card, out of its hours: it still ends their session.
      outcome = this.signOut(this.room.sessionOf(entry.personId) as LabSession, 'tap', reading);
      if (outcome.ok) outcome.detail.cardReason = decision.reason;
    } else {
      outcome = { ok: false, reason: decision.reason, message: `card denied: ${decision.reason}` };
    }

    const tap: StationTap = {
      v: SPEC_VERSION,
      station: this.id,
      kind: 'lab',
      reader: reader.name,
      at: iso(reading.now),
      card: maskCardId(decision.cardId),
      decision: outcome.ok ? 'grant' : 'deny',
      reason: outcome.ok ? 'ok' : outcome.reason,
      ...(entry ? { patron: patronOf(entry) } : {}),
      detail: outcome.ok ? outcome.detail : { action: 'denied', ...outcome.detail },
    };
    this.publishIfChanged(reading.now);
    const stationDecision = { ...decision, decision: tap.decision, reason: tap.reason };
    return this.taps.report(
      {
        decision: stationDecision,
        ...(outcome.ok && outcome.record ? { record: outcome.record } : {}),
        reader: reader.name,
        at: tap.at,
        actedAt: this.monotonic(),
        terminal: tap,
      },
      seenAt,
      'lab tap',
      { station: this.id, action: tap.detail?.action, seat: tap.detail?.seat },
    );
  }

  get events(): EventBus<StationEvents> {
    return this.taps.events;
  }

  recentTaps(): RecentTap[] {
    return this.taps.list();
  }

  busy(): string | undefined {
    return this.open > 0 ? `a computer-room request is open at ${this.id}` : undefined;
  }

  async handle(request: TerminalRequest): Promise<StationReply> {
    this.open += 1;
    try {
      return await this.handleNow(request);
    } finally {
      this.open -= 1;
    }
  }

  private async handleNow(request: TerminalRequest): Promise<StationReply> {
    switch (request.name) {
      case 'lab.seats':
        return { status: 'ok', data: this.view() };
      case 'lab.signin': {
        const { personId, seat, txn } = request.args;
        return this.once(txn, () => this.signInFor(personId, seat, txn));
      }
      case 'lab.signout': {
        const { personId, txn } = request.args;
        return this.once(txn, () => this.signOutFor(personId));
      }
      default:
        return { status: 'error', reason: 'wrong-station', message: `${request.name} is not a lab request` };
    }
  }

  view(): LabView {
    return this.viewAt(this.deps.clock.read().now);
  }

  onViewChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- taps

  private atDoor(entry: CardEntry, reading: ClockReading): Outcome {
    const session = this.room.sessionOf(entry.personId);
    if (session) return this.signOut(session, 'tap', reading);
    if (entry.role === 'teacher') return this.teacherAtDoor(entry, reading);
    return this.signIn(entry, undefined, reading, `tap:${randomUUID()}`);
  }

  private atSeat(entry: CardEntry, seat: string, reading: ClockReading): Outcome {
    const session = this.room.sessionOf(entry.personId);
    if (session?.seat === seat) return this.signOut(session, 'tap', reading);
    if (session) {
      return refuse('signed-in-elsewhere', `already signed in at seat ${session.seat}`, {
        seat: session.seat,
      });
    }
    return this.signIn(entry, seat, reading, `tap:${randomUUID()}`);
  }

  /** A teacher at the door books the lesson under way (or the next) for their class, or ends their booking. */
  private teacherAtDoor(entry: CardEntry, reading: ClockReading): Outcome {
    const { now } = reading;
    if (this.hours.closedAt(now))
      return refuse('closed', `the room is closed from ${this.deps.config.closing}`);
    const lesson = this.hours.targetLesson(now);
    if (!lesson) return refuse('no-lesson', 'no lesson is under way or still to come today');
    const booked = this.room
      .bookings()
      .find((b) => b.until > now && b.from < lesson.until && b.until > lesson.from);
    if (booked?.teacherPersonId === entry.personId) return this.endBooking(booked, reading);
    if (booked) {
      return refuse('room-booked', `booked for class ${booked.class}`, {
        class: booked.class,
        until: iso(booked.until),
      });
    }
    if (!entry.class) return refuse('no-class', 'the roster gives this teacher no class to book for');
    const booking: LabBooking = {
      bookingId: `booking:${randomUUID()}`,
      teacherPersonId: entry.personId,
      class: entry.class,
      from: Math.max(lesson.from, now),
      until: lesson.until,
    };
    const record = this.journalBooking(booking, reading);
    return {
      ok: true,
      record,
      detail: { action: 'booking', class: booking.class, from: iso(booking.from), until: iso(booking.until) },
    };
  }

  /** A teacher's second tap: the booking ends now (or, not yet begun, is cancelled: `until` = `from`). */
  private endBooking(booking: LabBooking, reading: ClockReading): Outcome {
    const ended: LabBooking = { ...booking, until: Math.max(booking.from, reading.now) };
    const record = this.journalBooking(ended, reading);
    return {
      ok: true,
      record,
      detail: { action: 'booking-ended', class: ended.class, from: iso(ended.from), until: iso(ended.until) },
    };
  }

  // ---- terminal requests

  /** The same transaction id gets the same reply, and makes no second change. */
  private once(txn: string, run: () => { reply: StationReply; record?: EventRecord }): Promise<StationReply> {
    const known = this.replies.get(txn);
    if (known) return known;
    const pending = (async () => {
      try {
        const { reply, record } = run();
        this.publishIfChanged(this.deps.clock.read().now);
        if (record) await this.deps.journal.durable(record.seq);
        return reply;
      } catch (error) {
        this.replies.delete(txn);
        throw error;
      }
    })();
    this.rememberReply(txn, pending);
    return pending;
  }

  private signInFor(
    personId: string,
    seat: string | undefined,
    txn: string,
  ): { reply: StationReply; record?: EventRecord } {
    const reading = this.deps.clock.read();
    this.sweep(reading);
    const entry = this.person(personId);
    if (!entry) return refusal('unknown-person', `no card of ${personId} is known here`);
    const problem = this.cardProblem(entry, reading);
    if (problem) return refusal(problem, `card not usable here: ${problem}`);
    const session = this.room.sessionOf(personId);
    if (session)
      return refusal('signed-in', `already signed in at seat ${session.seat}`, { seat: session.seat });
    return this.replyOf(this.signIn(entry, seat, reading, `txn:${txn}`));
  }

  private signOutFor(personId: string): { reply: StationReply; record?: EventRecord } {
    const reading = this.deps.clock.read();
    this.sweep(reading);
    const session = this.room.sessionOf(personId);
    if (!session) return refusal('not-signed-in', `${personId} is not signed in`);
    return this.replyOf(this.signOut(session, 'terminal', reading));
  }

  private replyOf(outcome: Outcome): { reply: StationReply; record?: EventRecord } {
    if (!outcome.ok) return refusal(outcome.reason, outcome.message, outcome.detail);
    return {
      reply: { status: 'ok', data: outcome.detail },
      ...(outcome.record ? { record: outcome.record } : {}),
    };
  }

  /**
   * What a terminal's sign-in checks of a card it cannot see: status, validity and zone (the card's
   * weekly schedule is not applied: the person at the terminal is answerable).
   */
  private cardProblem(entry: CardEntry, reading: ClockReading): string | undefined {
    if (entry.status !== 'active') return entry.status;
    if (!entry.zones.includes(this.deps.config.zone)) return 'not-in-zone';
    if (reading.trusted && reading.now < Date.parse(entry.validFrom)) return 'not-yet-valid';
    if (reading.trusted && reading.now > Date.parse(entry.validUntil)) return 'expired';
    return undefined;
  }

  // ---- the changes: each journaled, then applied

  private signIn(
    entry: CardEntry,
    seat: string | undefined,
    reading: ClockReading,
    sessionId: string,
  ): Outcome {
    const { now } = reading;
    const { config } = this.deps;
    if (this.hours.closedAt(now)) return refuse('closed', `the room is closed from ${config.closing}`);
    const booking = this.room.bookingAt(now);
    if (booking && entry.role === 'student' && entry.class !== booking.class) {
      return refuse('room-booked', `this lesson is booked for class ${booking.class}`, {
        class: booking.class,
        until: iso(booking.until),
      });
    }
    let chosen = seat;
    if (chosen !== undefined) {
      if (!this.room.hasSeat(chosen))
        return refuse('unknown-seat', `there is no seat ${chosen}`, { seat: chosen });
      if (this.room.sessionAt(chosen))
        return refuse('seat-taken', `seat ${chosen} is taken`, { seat: chosen });
    } else {
      chosen = this.room.freeSeat();
      if (chosen === undefined) return refuse('room-full', 'every seat is taken');
    }
    const limitMinutes = config.limits[entry.role];
    const { record, change } = this.journalChange({
      type: 'lab.signin',
      ...this.stamp(reading),
      data: {
        station: this.id,
        sessionId,
        personId: entry.personId,
        cardId: entry.cardId,
        seat: chosen,
        limitMinutes,
        ...(booking ? { bookedClass: booking.class } : {}),
      },
    });
    if (change?.kind !== 'signin') throw new Error(`the room did not take the sign-in at seq ${record.seq}`);
    return { ok: true, record, detail: signInDetail(change.session, now) };
  }

  private signOut(
    session: LabSession,
    reason: SignOutReason,
    reading: ClockReading,
    end = reading.now,
  ): Outcome {
    const minutes = wholeMinutes(session.since, end);
    const { record } = this.journalChange({
      type: 'lab.signout',
      ...this.stamp(reading),
      data: {
        station: this.id,
        sessionId: session.sessionId,
        personId: session.personId,
        seat: session.seat,
        minutes,
        reason,
      },
    });
    return {
      ok: true,
      record,
      detail: { action: 'signout', seat: session.seat, minutes, reason, sessionId: session.sessionId },
    };
  }

  private journalBooking(booking: LabBooking, reading: ClockReading): EventRecord {
    return this.journalChange({
      type: 'lab.booking',
      ...this.stamp(reading),
      data: {
        station: this.id,
        bookingId: booking.bookingId,
        teacherPersonId: booking.teacherPersonId,
        class: booking.class,
        from: iso(booking.from),
        until: iso(booking.until),
      },
    }).record;
  }

  /** Live = append, then apply the record appended: the one path a restart's replay takes too. */
  private journalChange(body: EventBody): { record: EventRecord; change: RoomChange } {
    const record = this.deps.journal.append(body);
    return { record, change: this.take(record) };
  }

  /** Applies one of this station's records to the room; a terminal's sign-in keeps its answer for a repeat. */
  private take(record: EventRecord): RoomChange {
    const change = this.room.apply(record);
    if (change?.kind !== 'signin') return change;
    const { session } = change;
    if (session.cardId) this.remember(session.personId, session.cardId);
    const txn = session.sessionId.startsWith('txn:') ? session.sessionId.slice(4) : undefined;
    if (txn && !this.replies.has(txn)) {
      const reply: StationReply = { status: 'ok', data: signInDetail(session, session.since) };
      this.rememberReply(txn, Promise.resolve(reply));
    }
    return change;
  }

  /**
   * Ends every session past its limit or its day's closing time, and the sessions and bookings of
   * people who moved to another school (their card transferred); forgets bookings of earlier days.
   */
  private sweep(reading: ClockReading): void {
    for (const session of this.room.sessions()) {
      if (reading.now >= session.endsAt) this.signOut(session, session.endsBy, reading, session.endsAt);
      else if (this.transferred(session.personId)) this.signOut(session, 'transferred', reading);
    }
    for (const booking of this.room.bookings()) {
      const open = booking.until > reading.now && booking.until > booking.from;
      if (open && this.transferred(booking.teacherPersonId)) this.endBooking(booking, reading);
    }
    this.room.forgetBookingsBefore(reading.now);
  }

  /** Whether the roster says the person's card went with them to another school. */
  private transferred(personId: string): boolean {
    return this.deps.roster()?.byPersonId(personId)?.statusReason === 'transferred';
  }

  // ---- people

  private remember(personId: string, cardId: string): void {
    this.seen.delete(personId);
    this.seen.set(personId, cardId);
    if (this.seen.size > REMEMBERED_PEOPLE) this.seen.delete(this.seen.keys().next().value as string);
  }

  private person(personId: string): CardEntry | undefined {
    const named = this.deps.people?.(personId);
    if (named) return named;
    const cardId = this.seen.get(personId) ?? this.room.sessionOf(personId)?.cardId;
    const entry = cardId === undefined ? undefined : this.deps.roster()?.byCardId(cardId);
    return entry?.personId === personId ? entry : undefined;
  }

  private rememberReply(txn: string, reply: Promise<StationReply>): void {
    this.replies.set(txn, reply);
    if (this.replies.size > REMEMBERED_TXNS) this.replies.delete(this.replies.keys().next().value as string);
  }

  // ---- the view

  private viewAt(now: number): LabView {
    return labView(this.room, now, { closing: this.deps.config.closing, open: !this.hours.closedAt(now) });
  }

  private publishIfChanged(now: number): void {
    const view = JSON.stringify(this.viewAt(now));
    if (view === this.lastView) return;
    this.lastView = view;
    for (const listener of this.listeners) {
      try {
        listener();
      } catch (error) {
        this.deps.logger.error({ err: error, station: this.id }, 'lab view listener failed');
      }
    }
  }

  private stamp(reading: ClockReading): ClockStamp & { at: string } {
    return { at: iso(reading.now), ...this.deps.clock.stamp(reading) };
  }

  // ---- restart

  /**
   * Replays this station's `lab.*` events since the start of yesterday (school time), reading the
   * journal backwards a page at a time: who sits where, today's bookings, and the replies to
   * terminals' sign-ins (a session made by a terminal carries its transaction id). Sessions left open
   * past their limit or closing time (the gateway was down) are ended by the first check.
   */
  private async rebuild(): Promise<void> {
    const { journal, logger } = this.deps;
    const now = this.deps.clock.read().now;
    const zone = this.hours.timeZone();
    const since = dayStart(dayStart(now, zone) - 1, zone);
    let replayed = 0;
    for (const record of await recordsSince(journal, since)) if (this.take(record)) replayed += 1;
    logger.info(
      { station: this.id, events: replayed, sessions: this.room.size, bookings: this.room.bookings().length },
      'lab state rebuilt from the journal',
    );
  }
}
