import type { RolloutSpec } from './spec.js';
import type { RolloutState } from './types.js';

/** The rows of rollouts and rollout_devices, as SQL hands them out. */
export interface RolloutRow {
  id: string;
  version: string;
  spec: string;
  state: RolloutState;
  reason: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}
export interface DeviceRow {
  rollout: string;
  device: string;
  school: string;
  phase: number;
  state: string;
  detail: string | null;
  fetched: number | null;
  total: number | null;
  offered_at: string | null;
  updated_at: string;
}

/** A running rollout's spec, as `offering()` keeps it. */
export interface Offering {
  id: string;
  spec: RolloutSpec;
}
