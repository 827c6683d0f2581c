import type { LabRoom } from './room.js';
import { iso, minutesLeft } from './time.js';

/** One seat of the kiosk's view. Times are ISO; `until` is when the session will end (limit or closing). */
export type LabSeatView = {
  id: string;
  state: 'free' | 'taken';
  personId?: string;
  displayName?: string;
  class?: string;
  since?: string;
  until?: string;
  minutesLeft?: number;
};

/** What the kiosk shows: the seats, the booking in force (or the next one today), closing time. */
export type LabView = {
  seats: LabSeatView[];
  booking?: {
    class: string;
    teacher: string;
    teacherPersonId: string;
    from: string;
    until: string;
    /** True while the booked lesson is under way; false for a booking later today. */
    inForce: boolean;
  };
  closing: string;
  open: boolean;
};

/** What the kiosk shows at `now` of the room: each seat, and the booking in force or the next one today. */
export function labView(room: LabRoom, now: number, hours: { closing: string; open: boolean }): LabView {
  const seats = room.seats().map((id): LabSeatView => {
    const session = room.sessionAt(id);
    if (!session) return { id, state: 'free' };
    return {
      id,
      state: 'taken',
      personId: session.personId,
      ...(session.displayName ? { displayName: session.displayName } : {}),
      ...(session.class ? { class: session.class } : {}),
      since: iso(session.since),
      until: iso(session.endsAt),
      minutesLeft: minutesLeft(now, session.endsAt),
    };
  });
  const current = room.bookingAt(now);
  const booking =
    current ??
    room
      .bookings()
      .filter((b) => b.from > now && b.until > b.from)
      .sort((a, b) => a.from - b.from)[0];
  return {
    seats,
    ...(booking
      ? {
          booking: {
            class: booking.class,
            teacher: booking.teacher ?? booking.teacherPersonId,
            teacherPersonId: booking.teacherPersonId,
            from: iso(booking.from),
            until: iso(booking.until),
            inForce: booking === current,
          },
        }
      : {}),
    ...hours,
  };
}
