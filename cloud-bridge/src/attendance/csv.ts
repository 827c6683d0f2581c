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
] as const;

/**
 * A cell as Excel should read it: quoted when it holds a separator, a quote or a line break, and a
 * leading = + - @ made inert so a name can never run as a formula.
 */
function cell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/**
 * One row per pupil, UTF-8 with a byte-order mark (so Excel set to a Chinese locale reads the names
 * right) and CRLF line ends; times are local school time, `YYYY-MM-DD HH:MM:SS`.
 */
export function dayCsv(day: AttendanceDay): string {
  const local = (iso: string | undefined) => (iso ? localDateTime(iso, day.timeZone) : '');
  const lines = [ATTENDANCE_CSV_COLUMNS.join(',')];
  for (const group of day.classes) {
    for (const pupil of group.pupils) {
      lines.push(
        [
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
        ]
          .map(cell)
          .join(','),
      );
    }
  }
  return `\uFEFF${lines.join('\r\n')}\r\n`;
}
