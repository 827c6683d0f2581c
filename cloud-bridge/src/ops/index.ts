export { ALARM_KINDS, type AlarmInput, type AlarmSubject } from './alarms.js';
export { opsRoutes } from './http.js';
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
  CardChangeView,
  CardView,
  DeviceHealth,
  EventSummary,
  GatePropagation,
  TransferView,
} from './types.js';
