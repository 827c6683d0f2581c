import { Identifier, IsoDate, TimeWindow } from '@educard/terminal-sdk';
import { z } from 'zod';

const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine((zone) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone, e.g. Asia/Shanghai');

/**
 * A venue: a museum, a youth activity centre, a social-practice base that admits any genuine card of
 * the province by its certificate (docs/venues.md). Times are local to `timeZone`.
 */
export const VenueConfig = z.object({
  /** The venue's id: its events name it. */
  id: Identifier,
  /** The zone its door events (forced, held open) name. */
  zone: Identifier,
  /** The same card on the same reader again within this long is one tap. */
  debounceMs: z.number().int().nonnegative().default(3000),
  timeZone: TimeZone.default('Asia/Shanghai'),
  /** When it is open to visitors, week by week: Tuesday to Sunday, 09:00 to 17:00, unless told. */
  hours: z
    .array(TimeWindow)
    .min(1)
    .max(32)
    .default([{ days: [2, 3, 4, 5, 6, 7], start: '09:00', end: '17:00' }]),
  /** Days it is closed to visitors (booked class visits still come). */
  closures: z.array(IsoDate).max(400).default([]),
  /** The most visitors a day, booked classes included; none means no limit. */
  capacity: z.number().int().positive().max(1_000_000).optional(),
  /** How long before its slot a booked class's teacher may admit it. */
  admitEarlyMinutes: z.number().int().min(0).max(240).default(30),
  /** How long after the hotlist in force expires cards are still checked against it, flagged. */
  hotlistGraceMs: z.number().int().nonnegative().default(86_400_000),
  /**
   * With the clock before the time floor (a power cut on a board without a real-time clock): refuse
   * everyone, or admit genuine cards not on the hotlist without checking dates, flagged.
   */
  clockUntrusted: z.enum(['deny-all', 'ignore-time']).default('ignore-time'),
});
export type VenueConfig = z.infer<typeof VenueConfig>;
