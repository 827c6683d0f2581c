import { type Calendar, localDate, type QuietWindow } from '@educard/terminal-sdk';
import { addDays, schoolDay, zonedInstant } from '../attendance/index.js';
import type { SchoolTimes } from '../directory/index.js';
import type { RolloutsConfig } from './config.js';

export interface SchoolDayRules {
  timeZone: string;
  calendar: Pick<Calendar, 'holidays' | 'closures' | 'makeUpDays'>;
  times: SchoolTimes;
}

const MINUTE = 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The spans in which a school's gateways must not switch releases, from `now` for `days` days: on each
 * school day (the calendar's holidays, closures and make-up days count), the arrival around the bell
 * and the dismissal; with `afterHours`, the whole school day from the arrival to the dismissal. Weekends
 * and holidays have none.
 */
export function quietWindows(
  rules: SchoolDayRules,
  settings: Pick<RolloutsConfig, 'arrival' | 'dismissal'>,
  options: { now: number; days: number; afterHours: boolean },
): QuietWindow[] {
  const windows: QuietWindow[] = [];
  const today = localDate(options.now, rules.timeZone);
  const until = options.now + options.days * 86_400_000;
  for (let day = -1; day <= options.days; day++) {
    const date = addDays(today, day);
    if (!schoolDay(date, rules.calendar).schoolDay) continue;
    const bell = zonedInstant(date, rules.times.bellTime, rules.timeZone);
    const dismissal = zonedInstant(date, rules.times.dismissalTime, rules.timeZone);
    const arrival = {
      from: bell - settings.arrival.beforeMin * MINUTE,
      to: bell + settings.arrival.afterMin * MINUTE,
    };
    const leaving = {
      from: dismissal - settings.dismissal.beforeMin * MINUTE,
      to: dismissal + settings.dismissal.afterMin * MINUTE,
    };
    const spans = options.afterHours
      ? [{ ...arrival, to: Math.max(arrival.to, leaving.to), why: 'school-hours' as const }]
      : [
          { ...arrival, why: 'arrival' as const },
          { ...leaving, why: 'dismissal' as const },
        ];
    for (const span of spans)
      if (span.to > options.now && span.from < until)
        windows.push({ from: iso(span.from), to: iso(span.to), why: span.why });
  }
  return windows;
}

/** The window `now` is in, if any. */
export const windowAt = (windows: QuietWindow[], now: number) =>
  windows.find((w) => Date.parse(w.from) <= now && now < Date.parse(w.to));
