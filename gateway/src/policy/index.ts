export { PolicyConfig } from './config.js';
export { type ClockReading, type Decision, decide, type PresentedCard, type TapPlace } from './decide.js';
export {
  dayStart,
  instantOn,
  type LocalTime,
  localTime,
  minutesOf,
  type WallClock,
  wallClock,
} from './local-time.js';
export { PassbackState } from './passback.js';
export { scheduleAllows } from './schedule.js';
export {
  type CertifiedCardRules,
  type CertifiedCardTrust,
  checkCertifiedCard,
  GENUINE_CARD_REASONS,
  type VenueDecision,
} from './venue.js';
