export { LabConfig, type LabConfigInput, LabLesson, LabSeat } from './config.js';
export { createLabStation } from './create.js';
export {
  type LabJournal,
  type LabSeatView,
  LabStation,
  type LabStationDeps,
  type LabView,
} from './station.js';
