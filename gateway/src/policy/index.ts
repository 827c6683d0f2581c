export { PolicyConfig } from './config.js';
export { type ClockReading, type Decision, decide, type PresentedCard, type TapPlace } from './decide.js';
export { type LocalTime, localTime, minutesOf, type WallClock, wallClock } from './local-time.js';
export { PassbackState } from './passback.js';
export { scheduleAllows } from './schedule.js';
