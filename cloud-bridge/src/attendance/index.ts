export {
  addDays,
  isCalendarDate,
  isTimeZone,
  schoolDay,
  weekStart,
  zonedInstant,
} from './calendar.js';
export { AttendanceConfig } from './config.js';
export { ATTENDANCE_CSV_COLUMNS, dayCsv } from './csv.js';
export { computeDay, type DaySpan, daySpan, type Pupil } from './day.js';
export { attendanceRoutes } from './http.js';
export { type ParentNoticeSource, withParentNotices } from './parent-notices.js';
export { type PassageDirection, passageOf } from './passages.js';
export {
  Attendance,
  type AttendanceDeps,
  AttendanceQueryRefused,
  type AttendanceTrend,
} from './service.js';
export type {
  AttendanceDay,
  ClassDay,
  ConsecutiveAbsence,
  ConsecutiveAbsences,
  DayCounts,
  NotSchoolDay,
  ParentNotice,
  PupilDay,
  PupilStatus,
  RefusalParentNotice,
  TrendWeek,
  TurnedAwayPerson,
} from './types.js';
