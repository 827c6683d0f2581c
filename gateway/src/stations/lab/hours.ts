import { instantOn, localTime, minutesOf } from '../../policy/index.js';
import type { RosterView } from '../../roster/index.js';
import type { LabConfig } from './config.js';

/** A computer room's day: its lessons and closing time, in the school's time zone (the roster's calendar). */
export class LabHours {
  /** Minutes after local midnight. */
  readonly closing: number;
  private readonly lessons: { start: number; end: number }[];
  private lastTimeZone = 'UTC';

  constructor(
    config: LabConfig,
    private readonly roster: () => RosterView | undefined,
  ) {
    this.lessons = config.lessons
      .map((lesson) => ({ start: minutesOf(lesson.start), end: minutesOf(lesson.end) }))
      .sort((a, b) => a.start - b.start);
    this.closing = minutesOf(config.closing);
  }

  /** The roster's time zone, or the last one it gave while no roster is in force. */
  timeZone(): string {
    const zone = this.roster()?.calendar.timeZone;
    if (zone) this.lastTimeZone = zone;
    return this.lastTimeZone;
  }

  /** Closed from the closing time to midnight: the room opens again at 00:00 the next day. */
  closedAt(now: number): boolean {
    return localTime(now, this.timeZone()).minutes >= this.closing;
  }

  /** The lesson under way, or else the next one today, as instants. */
  targetLesson(now: number): { from: number; until: number } | undefined {
    const zone = this.timeZone();
    const minutes = localTime(now, zone).minutes;
    const lesson =
      this.lessons.find((l) => l.start <= minutes && minutes < l.end) ??
      this.lessons.find((l) => l.start > minutes);
    return lesson && { from: instantOn(now, lesson.start, zone), until: instantOn(now, lesson.end, zone) };
  }
}
