/**
 * Rollouts as the API answers them. Nothing here runs on Node, so the bridge's pages type-check
 * against this file (pages/src/api.ts).
 */

export type RolloutState = 'running' | 'paused' | 'aborted' | 'done';

export interface RolloutDevice {
  device: string;
  school: string;
  /** Its phase, from 0. */
  phase: number;
  /** pending, offered, downloading, waiting, switching, checking, committed, rolled-back, refused, skipped, withdrawn. */
  state: string;
  detail?: string;
  fetched?: number;
  total?: number;
  offeredAt?: string;
  updatedAt: string;
}

export interface RolloutView {
  id: string;
  version: string;
  state: RolloutState;
  reason?: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  spec: {
    version: string;
    schools: string[];
    devices: string[];
    tags: string[];
    phases: string[];
    pace: number;
    abort: { failures: number; percent?: number | undefined; minDevices: number };
    afterHours: boolean;
    allowOneWay: boolean;
  };
  /** Devices by state. */
  counts: Record<string, number>;
  phases: { index: number; spec: string; devices: number; counts: Record<string, number> }[];
}
