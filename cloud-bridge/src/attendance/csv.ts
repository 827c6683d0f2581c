import { toCsv } from '../csv/index.js';
import { localDateTime } from './calendar.js';
import type { AttendanceDay } from './types.js';

export const ATTENDANCE_CSV_COLUMNS = [
  'date',
  'class',
  'class_name',
  'grade',
  'person_id',
  'student_number',
  'name',
  'status',
  'arrived_at',
  'left_at',
  'left_early',
  'turned_away_at',
  'turned_away_reason',
] as const;

/**
 * One row per pupil, UTF-8 with a byte-order mark (so Excel set to a Chinese locale reads the names
 * right) and CRLF line ends; times are local school time, `YYYY-MM-DD HH:MM:SS`.
 */
export function dayCsv(day: AttendanceDay): string {
  const local = (iso: string | undefined) => (iso ? localDateTime(iso, day.timeZone) : '');
  const rows: string[][] = [[...ATTENDANCE_CSV_COLUMNS]];
  for (const group of day.classes) {
    for (const pupil of group.pupils) {
      rows.push([
        day.date,
        group.class,
        group.name,
        group.grade ?? '',
        pupil.personId,
        pupil.studentNumber ?? '',
        pupil.name,
        pupil.status,
        local(pupil.arrivedAt),
        local(pupil.leftAt),
        pupil.leftEarly ? 'yes' : 'no',
        local(pupil.turnedAwayAt),
        pupil.turnedAwayReason ?? '',
      ]);
    }
  }
  return toCsv(rows, { bom: true, lineEnd: 'crlf' });
}
