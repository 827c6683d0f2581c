import { attemptKey, type ReleaseRoot, type UpdateState } from './layout.js';

export type RollbackStage = NonNullable<UpdateState['stage']>;

/**
 * Puts the committed release back in `current` and writes down why, for the committed release to
 * journal and report when it starts. Needs no network and no working new release: it only moves a link.
 */
export async function rollBack(
  root: ReleaseRoot,
  state: UpdateState,
  stage: RollbackStage,
  reason: string,
): Promise<UpdateState> {
  const committed = await root.link('committed');
  if (!committed) throw new Error(`no committed release in ${root.dir} to go back to`);
  await root.point('current', committed);
  const version = state.version ?? (await root.link('current')) ?? 'unknown';
  const next: UpdateState = {
    ...state,
    phase: 'rolled-back',
    offer: undefined,
    starts: 0,
    deadline: undefined,
    stage,
    reason,
    journaled: false,
    failed: state.rollout
      ? [...new Set([...state.failed, attemptKey(state.rollout, version)])]
      : state.failed,
  };
  await root.writeState(next);
  return next;
}

/**
 * Makes the release on trial the committed one: `previous` keeps the one it replaces, `committed`
 * moves to it. The links first, the state after: a crash between leaves a committed release whose
 * state the next start completes.
 */
export async function commit(root: ReleaseRoot, state: UpdateState): Promise<UpdateState> {
  const current = await root.link('current');
  const committed = await root.link('committed');
  if (!current) throw new Error(`no current release in ${root.dir}`);
  if (committed && committed !== current) await root.point('previous', committed);
  await root.point('committed', current);
  const next: UpdateState = {
    ...state,
    phase: 'committed',
    offer: undefined,
    starts: 0,
    deadline: undefined,
    stage: undefined,
    reason: undefined,
    lastExit: undefined,
    journaled: false,
  };
  await root.writeState(next);
  return next;
}

/** What the start guard decided, for its log line. */
export interface GuardOutcome {
  action: 'none' | 'counted' | 'rolled-back';
  message: string;
  state: UpdateState;
}

/**
 * Runs before every start of the service, from the committed release (systemd's ExecStartPre), so
 * that a new release that crashes, hangs or never finishes its check cannot keep itself running: a
 * release on trial gets `maxStarts` starts within its deadline, and the next start goes back.
 */
export async function guardStart(
  root: ReleaseRoot,
  options: { maxStarts: number; now: number },
): Promise<GuardOutcome> {
  const state = await root.readState();
  const current = await root.link('current');
  const committed = await root.link('committed');
  if (!current || !committed || current === committed)
    return { action: 'none', message: `${current ?? 'no release'} is committed`, state };
  if (state.phase !== 'trial' || state.version !== current) {
    const next = await rollBack(
      root,
      state,
      'start',
      `${current} runs without having been switched in by an update`,
    );
    return { action: 'rolled-back', message: next.reason as string, state: next };
  }
  if (state.deadline && options.now > Date.parse(state.deadline)) {
    const next = await rollBack(root, state, 'check', `its commit check did not pass by ${state.deadline}`);
    return { action: 'rolled-back', message: next.reason as string, state: next };
  }
  if (state.starts >= options.maxStarts) {
    const next = await rollBack(
      root,
      state,
      'start',
      `it stopped before its commit check passed (${state.lastExit ?? 'the device restarted'})`,
    );
    return { action: 'rolled-back', message: next.reason as string, state: next };
  }
  const next = { ...state, starts: state.starts + 1 };
  await root.writeState(next);
  return { action: 'counted', message: `start ${next.starts} of ${current} on trial`, state: next };
}

/**
 * Runs after every stop of the service (systemd's ExecStopPost): writes down how a release on trial
 * ended (`SERVICE_RESULT`, `EXIT_CODE`, `EXIT_STATUS`), so that the reason reported is "killed by the
 * watchdog" or "exited with status 1", not a guess.
 */
export async function guardStop(root: ReleaseRoot, env: NodeJS.ProcessEnv): Promise<GuardOutcome> {
  const state = await root.readState();
  const current = await root.link('current');
  if (state.phase !== 'trial' || state.version !== current || state.starts === 0)
    return { action: 'none', message: 'no release on trial stopped', state };
  const result = env.SERVICE_RESULT ?? 'unknown';
  const how =
    result === 'watchdog'
      ? 'it hung and the watchdog killed it'
      : env.EXIT_CODE === 'exited'
        ? `it exited with status ${env.EXIT_STATUS}`
        : env.EXIT_CODE === 'killed' || env.EXIT_CODE === 'dumped'
          ? `it was killed by signal ${env.EXIT_STATUS}`
          : `it stopped (${result})`;
  const next = { ...state, lastExit: how };
  await root.writeState(next);
  return { action: 'counted', message: how, state: next };
}

/** The OnFailure= unit: the service failed for good (its start limit); a release on trial goes back. */
export async function guardFailed(root: ReleaseRoot): Promise<GuardOutcome> {
  const state = await root.readState();
  const current = await root.link('current');
  const committed = await root.link('committed');
  if (!current || !committed || current === committed)
    return {
      action: 'none',
      message: `the committed release ${committed} failed: nothing to go back to`,
      state,
    };
  const next = await rollBack(
    root,
    { ...state, version: current },
    'start',
    'the service failed to start again and again (systemd start limit)',
  );
  return { action: 'rolled-back', message: next.reason as string, state: next };
}
