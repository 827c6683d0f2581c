export { createGateStation } from './create.js';
export {
  type EventSink,
  type GateActions,
  GateStation,
  type GateStationConfig,
  type GateStationDeps,
  type RecentTap,
  type TapOutcome,
} from './station.js';
