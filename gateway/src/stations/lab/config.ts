import { Identifier } from '@educard/terminal-sdk';
import { z } from 'zod';
import { RegexPattern } from '../../config/patterns.js';
import { minutesOf } from '../../policy/local-time.js';

/** A local wall-clock time, 00:00 to 23:59, in the school's time zone (the roster's calendar). */
export const LocalClock = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 00:00 to 23:59');

const Minutes = z
  .number()
  .int()
  .positive()
  .max(24 * 60);

export const LabSeat = z.object({
  id: Identifier,
  /** The seat's own reader, if it has one: a tap there signs in to (or out of) this seat. */
  reader: RegexPattern.optional(),
});
export type LabSeat = z.infer<typeof LabSeat>;

export const LabLesson = z
  .object({ start: LocalClock, end: LocalClock })
  .refine((lesson) => minutesOf(lesson.start) < minutesOf(lesson.end), 'a lesson ends after it starts');
export type LabLesson = z.infer<typeof LabLesson>;

/**
 * A computer room: its seats and readers, how long a session may last by role, when it closes, and
 * the timetable's periods a teacher's booking covers. Times are the school's (`calendar.timeZone`).
 */
export const LabConfig = z
  .object({
    id: Identifier,
    /** The zone cards must hold to use the room, checked by the gateway's policy. */
    zone: Identifier,
    /** The same card on the same reader again within this long is one tap. */
    debounceMs: z.number().int().nonnegative().default(3000),
    /** In the order the door hands them out: a door tap gets the first free seat. */
    seats: z.array(LabSeat).min(1).max(500),
    /** The door's readers; by default every reader no seat claims. */
    doorReaders: z.array(RegexPattern).min(1).optional(),
    /** The longest a session may last, by role. */
    limits: z
      .object({ student: Minutes.default(90), teacher: Minutes.default(240), staff: Minutes.default(240) })
      .prefault({}),
    /** Everyone still signed in is signed out at this time; sign-ins are refused from then until midnight. */
    closing: LocalClock.refine((clock) => clock !== '00:00', 'the room must be open some of the day').default(
      '18:00',
    ),
    /** The timetable's periods: a teacher's booking covers the one under way, or else the next. */
    lessons: z.array(LabLesson).max(32).default([]),
    /** How often sessions are checked against their limit and the closing time. */
    checkEveryMs: z.number().int().min(100).max(60_000).default(5000),
  })
  .superRefine((config, context) => {
    const seen = new Set<string>();
    for (const [i, seat] of config.seats.entries()) {
      if (seen.has(seat.id)) {
        context.addIssue({
          code: 'custom',
          path: ['seats', i, 'id'],
          message: `seat "${seat.id}" appears twice`,
        });
      }
      seen.add(seat.id);
    }
    const lessons = [...config.lessons].sort((a, b) => minutesOf(a.start) - minutesOf(b.start));
    for (let i = 1; i < lessons.length; i++) {
      const before = lessons[i - 1] as LabLesson;
      const lesson = lessons[i] as LabLesson;
      if (minutesOf(lesson.start) < minutesOf(before.end)) {
        context.addIssue({
          code: 'custom',
          path: ['lessons'],
          message: `the lessons ${before.start}–${before.end} and ${lesson.start}–${lesson.end} overlap`,
        });
      }
    }
  });
export type LabConfig = z.infer<typeof LabConfig>;
/** A lab's configuration as written, before defaults. */
export type LabConfigInput = z.input<typeof LabConfig>;
