import { type DaySpan, daySpan } from './day.js';
import type { AttendanceDay, ParentNotice, PupilDay, RefusalParentNotice } from './types.js';

/**
 * What a school's parents were told on a day (the notices module answers): of their children's
 * absence, and of their refusals at the gate (each pupil's in the order of the refusals).
 */
export interface ParentNoticeSource {
  parentNotices(
    school: string,
    date: string,
    span: DaySpan,
  ): {
    absences: ReadonlyMap<string, ParentNotice>;
    refusals: ReadonlyMap<string, readonly RefusalParentNotice[]>;
    heldBy: readonly string[];
  };
}

/**
 * The day with each pupil's absence notice, and the notice of the refusal that left them outside,
 * beside their status, and the gates holding the school's notices back: the office sees whom it still
 * has to call.
 */
export function withParentNotices(day: AttendanceDay, source: ParentNoticeSource): AttendanceDay {
  if (!day.schoolDay) return day;
  const { absences, refusals, heldBy } = source.parentNotices(
    day.school,
    day.date,
    daySpan(day.date, day.timeZone),
  );
  if (absences.size === 0 && refusals.size === 0 && heldBy.length === 0) return day;
  return {
    ...day,
    ...(heldBy.length ? { parentNoticesHeldBy: [...heldBy] } : {}),
    classes: day.classes.map((group) => ({
      ...group,
      pupils: group.pupils.map((pupil) => {
        const parentNotice = absences.get(pupil.personId);
        const refusalNotice = toldOfTurningAway(pupil, refusals.get(pupil.personId));
        return {
          ...pupil,
          ...(parentNotice ? { parentNotice } : {}),
          ...(refusalNotice ? { refusalNotice } : {}),
        };
      }),
    })),
  };
}

/**
 * The notice that told a turned-away pupil's parents they are outside: of the refusal that left them
 * there, or of an earlier one since they last left (a pupil refused again is not told again); none
 * for a lockdown's refusal or one read too late, which are never told.
 */
function toldOfTurningAway(
  pupil: PupilDay,
  told: readonly RefusalParentNotice[] | undefined,
): RefusalParentNotice | undefined {
  const turnedAwayAt = pupil.turnedAwayAt;
  if (!turnedAwayAt) return undefined;
  return told?.findLast(
    (notice) => notice.refusedAt <= turnedAwayAt && (pupil.leftAt ?? '') < notice.refusedAt,
  );
}
