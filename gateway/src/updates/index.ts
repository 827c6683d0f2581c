export {
  type Baseline,
  type DeviceProgress,
  technicianRollback,
  UpdateAgent,
  type UpdateAgentDeps,
} from './agent.js';
export { runSelfTest } from './check.js';
export { UpdateConfig } from './config.js';
export { FIRMWARE } from './firmware.js';
export { commit, type GuardOutcome, guardFailed, guardStart, guardStop, rollBack } from './guard.js';
export { GUARD_MOMENTS, type GuardMoment, guardSettings, runGuard } from './guard-run.js';
export { attemptKey, type LinkName, ReleaseRoot, type UpdateState } from './layout.js';
export { bridgeSource, folderSource, type ReleaseSource, type StageProgress, stageRelease } from './stage.js';
