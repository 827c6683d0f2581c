import type { AttendanceDay, ParentNotice } from './types.js';

/** What a school's parents were told of their children's absence on a date (the notices module answers). */
export interface ParentNoticeSource {
  parentNotices(
    school: string,
    date: string,
  ): { byPerson: ReadonlyMap<string, ParentNotice>; heldBy: readonly string[] };
}

/**
 * The day with each pupil's absence notice beside their status, and the gates holding the school's
 * notices back: the office sees whom it still has to call.
 */
export function withParentNotices(day: AttendanceDay, source: ParentNoticeSource): AttendanceDay {
  if (!day.schoolDay) return day;
  const { byPerson, heldBy } = source.parentNotices(day.school, day.date);
  if (byPerson.size === 0 && heldBy.length === 0) return day;
  return {
    ...day,
    ...(heldBy.length ? { parentNoticesHeldBy: [...heldBy] } : {}),
    classes: day.classes.map((group) => ({
      ...group,
      pupils: group.pupils.map((pupil) => {
        const parentNotice = byPerson.get(pupil.personId);
        return parentNotice ? { ...pupil, parentNotice } : pupil;
      }),
    })),
  };
}
