import { addDays, type Bridge, Directory, weekStart, zonedInstant } from '@educard/cloud-bridge';
import { type CardEntry, localDate, wallClock } from '@educard/terminal-sdk';

/** Today in a school's calendar by the real clock, and its weekday there (1 is Monday). */
export function schoolToday(timeZone: string): { date: string; weekday: number } {
  const now = Date.now();
  return { date: localDate(now, timeZone), weekday: wallClock(now, timeZone).weekday };
}

const DAY = 86_400_000;

/** A card's validity by the real clock: from a month ago for a year, whatever day the test runs. */
export function validAroundNow(): { validFrom: string; validUntil: string } {
  return {
    validFrom: new Date(Date.now() - 30 * DAY).toISOString(),
    validUntil: new Date(Date.now() + 365 * DAY).toISOString(),
  };
}

/** Monday of last week in a school's calendar: a whole school day in the past, whatever day the suite runs. */
export function lastWeeksMonday(timeZone: string): string {
  return addDays(weekStart(localDate(Date.now(), timeZone)), -7);
}

/**
 * The bridge's directory on a clock set to the start of term (eight weeks before last week's Monday):
 * pupils put through it are on every register since, as pupils enrolled long ago are.
 */
export function termDirectory(bridge: Bridge, timeZone: string): Directory {
  const termStart = zonedInstant(addDays(lastWeeksMonday(timeZone), -56), '07:00', timeZone);
  return new Directory(bridge.store.database, () => termStart);
}

/**
 * A school at the bridge with its times (bell 08:00, cut-off 09:00, dismissal 16:00) and its pupils in
 * class 3-1, each named 学生{id} with the student number G-{id}.
 */
export function schoolWithPupils(directory: Directory, school: string, pupils: string[]): void {
  directory.putSchool({
    id: school,
    name: 'No. 1 Primary',
    times: { bellTime: '08:00', cutoffTime: '09:00', dismissalTime: '16:00' },
  });
  for (const id of pupils)
    directory.putPerson({
      id,
      school,
      role: 'student',
      name: `学生${id}`,
      class: '3-1',
      studentNumber: `G-${id}`,
      active: true,
    });
}

/**
 * The persons of pupils' cards in the directory, as the central feed puts them: the card's name, school
 * and class, and the student-status numbers in the cards' order.
 */
export function cardPupils(
  directory: Directory,
  cards: readonly CardEntry[],
  studentNumbers: readonly string[],
): void {
  for (const [i, card] of cards.entries())
    directory.putPerson({
      id: card.personId,
      school: card.school,
      role: 'student',
      name: card.displayName as string,
      class: card.class as string,
      studentNumber: studentNumbers[i],
      active: true,
    });
}
