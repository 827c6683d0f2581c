import type { Calendar, Schedule } from '@educard/terminal-sdk';
import { type LocalTime, minutesOf, previousDay } from './local-time.js';

interface Day {
  date: string;
  weekday: number;
}

/** A day's weekday for timetables, or nothing when the school is closed that day for this schedule. */
function timetableDay(day: Day, calendar: Calendar, schedule: Schedule): number | undefined {
  const closed = calendar.holidays.includes(day.date) || calendar.closures.includes(day.date);
  if (closed && !schedule.onHolidays) return undefined;
  return calendar.makeUpDays.find((m) => m.date === day.date)?.as ?? day.weekday;
}

/**
 * Whether a schedule admits this moment. A window whose end is not after its start runs across
 * midnight, and belongs to the day it opened on: its holidays and weekday decide.
 */
export function scheduleAllows(schedule: Schedule, calendar: Calendar, now: LocalTime): boolean {
  const today = timetableDay(now, calendar, schedule);
  const yesterday = timetableDay(previousDay(now.date, now.weekday), calendar, schedule);
  for (const window of schedule.windows) {
    const start = minutesOf(window.start);
    const end = minutesOf(window.end);
    const opensToday = today !== undefined && window.days.includes(today);
    if (start < end) {
      if (opensToday && now.minutes >= start && now.minutes < end) return true;
      continue;
    }
    if (opensToday && now.minutes >= start) return true;
    if (yesterday !== undefined && window.days.includes(yesterday) && now.minutes < end) return true;
  }
  return false;
}
