import {
  type CardEntry,
  type EventRecord,
  LabBookingData,
  LabSignInData,
  LabSignOutData,
  type Role,
} from '@educard/terminal-sdk';
import type { z } from 'zod';
import type { Logger } from '../../log/index.js';
import { dayStart, instantOn } from './time.js';

export type SignOutReason = 'tap' | 'terminal' | 'limit' | 'closing' | 'transferred';

export interface LabSession {
  sessionId: string;
  personId: string;
  cardId?: string;
  seat: string;
  since: number;
  limitMinutes: number;
  /** When the session ends by itself, and why: its limit, or the closing time of its day. */
  endsAt: number;
  endsBy: 'limit' | 'closing';
  role?: Role;
  class?: string;
  displayName?: string;
  bookedClass?: string;
}

export interface LabBooking {
  bookingId: string;
  teacherPersonId: string;
  teacher?: string;
  class: string;
  from: number;
  until: number;
}

/** What one record changed in the room. */
export type RoomChange =
  | { kind: 'signin'; session: LabSession }
  | { kind: 'signout'; session: LabSession }
  | { kind: 'booking'; booking: LabBooking }
  | undefined;

export interface LabRoomDeps {
  station: string;
  seats: readonly string[];
  /** Closing time, minutes after local midnight. */
  closing: number;
  /** The school's time zone (the roster's calendar). */
  timeZone: () => string;
  /** The roster's entry of a card: the role, class and name a session shows. */
  card: (cardId: string) => CardEntry | undefined;
  /** A person's display name, for a booking's teacher. */
  nameOf: (personId: string) => string | undefined;
  logger: Logger;
}

/**
 * A computer room's state: who sits where and the day's bookings, as the journal's `lab.*` records
 * of one station make it. It changes only by {@link LabRoom.apply}: the station journals a change
 * and applies the record it appended, and a restart applies the same records again, so the room
 * after a restart is the room before it. It decides nothing: the rules are the station's.
 */
export class LabRoom {
  private readonly bySeat = new Map<string, LabSession>();
  private readonly byPerson = new Map<string, LabSession>();
  private bookingList: LabBooking[] = [];
  private readonly seatIds: ReadonlySet<string>;

  constructor(private readonly deps: LabRoomDeps) {
    this.seatIds = new Set(deps.seats);
  }

  /** Takes one journal record: this station's sign-ins, sign-outs and bookings; anything else is no change. */
  apply(record: EventRecord): RoomChange {
    if (!record.type.startsWith('lab.') || record.data.station !== this.deps.station) return undefined;
    const at = Date.parse(record.at);
    if (record.type === 'lab.signin') {
      const parsed = LabSignInData.safeParse(record.data);
      return parsed.success ? this.signIn(parsed.data, at, record.seq) : undefined;
    }
    if (record.type === 'lab.signout') {
      const parsed = LabSignOutData.safeParse(record.data);
      if (!parsed.success) return undefined;
      const session = this.byPerson.get(parsed.data.personId);
      if (session?.sessionId !== parsed.data.sessionId) return undefined;
      this.remove(session);
      return { kind: 'signout', session };
    }
    if (record.type === 'lab.booking') {
      const parsed = LabBookingData.safeParse(record.data);
      if (!parsed.success) return undefined;
      const data = parsed.data;
      const before = this.bookingList.find((b) => b.bookingId === data.bookingId);
      const teacher = this.deps.nameOf(data.teacherPersonId) ?? before?.teacher;
      const booking: LabBooking = {
        bookingId: data.bookingId,
        teacherPersonId: data.teacherPersonId,
        ...(teacher ? { teacher } : {}),
        class: data.class,
        from: Date.parse(data.from),
        until: Date.parse(data.until),
      };
      this.bookingList = [...this.bookingList.filter((b) => b.bookingId !== data.bookingId), booking];
      return { kind: 'booking', booking };
    }
    return undefined;
  }

  /** Forgets bookings of days before the one of `now`. */
  forgetBookingsBefore(now: number): void {
    if (this.bookingList.length === 0) return;
    const today = dayStart(now, this.deps.timeZone());
    this.bookingList = this.bookingList.filter((b) => b.until > today);
  }

  sessionOf(personId: string): LabSession | undefined {
    return this.byPerson.get(personId);
  }

  sessionAt(seat: string): LabSession | undefined {
    return this.bySeat.get(seat);
  }

  /** The seats, in the configuration's order. */
  seats(): readonly string[] {
    return this.deps.seats;
  }

  hasSeat(seat: string): boolean {
    return this.seatIds.has(seat);
  }

  /** The first free seat in the configuration's order. */
  freeSeat(): string | undefined {
    return this.deps.seats.find((seat) => !this.bySeat.has(seat));
  }

  sessions(): LabSession[] {
    return [...this.bySeat.values()];
  }

  get size(): number {
    return this.bySeat.size;
  }

  bookings(): readonly LabBooking[] {
    return this.bookingList;
  }

  /** The booking in force at `now`. */
  bookingAt(now: number): LabBooking | undefined {
    return this.bookingList.find((b) => b.from <= now && now < b.until);
  }

  private signIn(data: z.infer<typeof LabSignInData>, at: number, seq: number): RoomChange {
    if (!this.seatIds.has(data.seat)) {
      this.deps.logger.warn(
        { station: this.deps.station, seat: data.seat, seq },
        'session at an unknown seat',
      );
      return undefined;
    }
    const found = data.cardId === undefined ? undefined : this.deps.card(data.cardId);
    const entry = found?.personId === data.personId ? found : undefined;
    const limitAt = at + data.limitMinutes * 60_000;
    const closeAt = instantOn(at, this.deps.closing, this.deps.timeZone());
    const session: LabSession = {
      sessionId: data.sessionId,
      personId: data.personId,
      ...(data.cardId ? { cardId: data.cardId } : {}),
      seat: data.seat,
      since: at,
      limitMinutes: data.limitMinutes,
      endsAt: Math.min(limitAt, closeAt),
      endsBy: closeAt <= limitAt ? 'closing' : 'limit',
      ...(entry ? { role: entry.role } : {}),
      ...(entry?.class ? { class: entry.class } : {}),
      ...(entry?.displayName ? { displayName: entry.displayName } : {}),
      ...(data.bookedClass ? { bookedClass: data.bookedClass } : {}),
    };
    const sitting = this.bySeat.get(session.seat);
    if (sitting) this.remove(sitting);
    const elsewhere = this.byPerson.get(session.personId);
    if (elsewhere) this.remove(elsewhere);
    this.bySeat.set(session.seat, session);
    this.byPerson.set(session.personId, session);
    return { kind: 'signin', session };
  }

  private remove(session: LabSession): void {
    if (this.bySeat.get(session.seat) === session) this.bySeat.delete(session.seat);
    if (this.byPerson.get(session.personId) === session) this.byPerson.delete(session.personId);
  }
}
