export { addDays, isTimeZone, localDate, schoolDay, weekStart, zonedInstant } from './calendar.js';
export { AttendanceConfig } from './config.js';
export { ATTENDANCE_CSV_COLUMNS, dayCsv } from './csv.js';
export {
  type AttendanceDay,
  type ClassDay,
  computeDay,
  type DayCounts,
  type Pupil,
  type PupilDay,
  type PupilStatus,
} from './day.js';
export { attendanceRoutes } from './http.js';
export { type PassageDirection, passageOf } from './passages.js';
export {
  Attendance,
  type AttendanceDeps,
  AttendanceQueryRefused,
  type AttendanceTrend,
  type TrendWeek,
} from './service.js';
