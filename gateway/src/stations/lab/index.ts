export { LabConfig, type LabConfigInput, LabLesson, LabSeat } from './config.js';
export {
  type LabJournal,
  type LabSeatView,
  LabStation,
  type LabStationDeps,
  type LabView,
} from './station.js';
