export { LabConfig, type LabConfigInput, LabLesson, LabSeat } from './config.js';
export { createLabStation } from './create.js';
export { type LabJournal, LabStation, type LabStationDeps } from './station.js';
export type { LabSeatView, LabView } from './view.js';
