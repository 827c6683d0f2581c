import { mkdir } from 'node:fs/promises';
import { parseUpdateState, ReleaseRoot } from '../updates/layout.js';

/**
 * A release root at `path` with 1.0.0 committed and 1.1.0 current, on trial from rollout `r-1` until
 * `deadline`: where the update guard's tests (in process and as systemd runs it) start.
 */
export async function trialReleaseRoot(path: string, deadline: Date): Promise<ReleaseRoot> {
  const root = new ReleaseRoot(path);
  for (const version of ['1.0.0', '1.1.0']) await mkdir(root.releaseDir(version), { recursive: true });
  await root.point('committed', '1.0.0');
  await root.point('current', '1.1.0');
  await root.writeState(
    parseUpdateState({
      phase: 'trial',
      rollout: 'r-1',
      version: '1.1.0',
      from: '1.0.0',
      deadline: deadline.toISOString(),
    }),
  );
  return root;
}
