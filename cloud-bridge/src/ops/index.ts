export { ALARM_KINDS, type Alarm, type AlarmInput, type AlarmSubject } from './alarms.js';
export type { CardChangeView } from './cards.js';
export { opsRoutes } from './http.js';
export {
  type CardView,
  DEFAULT_OPS_SETTINGS,
  type DeviceHealth,
  type ExternalAlarm,
  type GatePropagation,
  Operations,
  type OpsDeps,
  type OpsSettings,
} from './service.js';
export { type EventSummary, summarise } from './stream.js';
