export { ALARM_KINDS, type AlarmInput, type AlarmSubject } from './alarms.js';
export { opsRoutes } from './http.js';
export { LiveRelay } from './relay.js';
export {
  DEFAULT_OPS_SETTINGS,
  type ExternalAlarm,
  Operations,
  type OpsDeps,
  type OpsSettings,
} from './service.js';
export { summarise } from './stream.js';
export type {
  Alarm,
  CalendarCoverage,
  CardChangeView,
  CardView,
  DeviceHealth,
  EventSummary,
  ExpiryView,
  GatePropagation,
  KeySetAge,
  RosterExpiry,
  TransferView,
} from './types.js';
