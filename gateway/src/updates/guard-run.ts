// Straight from their files, and no schema library: the guards run before and after every start of
// the service, and what they load is time a gate cannot decide during an update's restart
// (docs/updates.md). A setting that is not plainly right is worded by the gateway's own schema.
import { ConfigError, readConfigJson, relativeToConfig } from '../config/file.js';
import { createLogger } from '../log/logger.js';
import { MAX_STARTS, UPDATE_ROOT } from './defaults.js';
import { type GuardOutcome, guardFailed, guardStart, guardStop } from './guard.js';
import { ReleaseRoot } from './layout.js';

export const GUARD_MOMENTS = ['start', 'stop', 'failed'] as const;
export type GuardMoment = (typeof GUARD_MOMENTS)[number];

export interface GuardSettings {
  root: string;
  maxStarts: number;
}

/**
 * The two settings of the `update` section the guards use, the root taken relative to the file as the
 * gateway takes it. Only those: a mistake elsewhere in the file is the gateway's to report when it
 * refuses to start, and the guards still count that start and go back when a release on trial does.
 */
export async function guardSettings(path: string): Promise<GuardSettings> {
  const json = await readConfigJson(path);
  const update = (json as { update?: unknown } | null)?.update ?? {};
  const { root = UPDATE_ROOT, maxStarts = MAX_STARTS.default } = update as Record<string, unknown>;
  const plain =
    typeof update === 'object' &&
    !Array.isArray(update) &&
    typeof root === 'string' &&
    root.length > 0 &&
    Number.isInteger(maxStarts) &&
    (maxStarts as number) >= MAX_STARTS.min &&
    (maxStarts as number) <= MAX_STARTS.max;
  if (plain) return { root: relativeToConfig(path, root), maxStarts: maxStarts as number };
  const [{ z }, { UpdateConfig }, { describeIssues }] = await Promise.all([
    import('zod'),
    import('./config.js'),
    import('@educard/terminal-sdk/release'),
  ]);
  const parsed = z.object({ update: UpdateConfig.prefault({}) }).safeParse(json);
  if (!parsed.success) throw new ConfigError(path, describeIssues(parsed.error));
  const { root: named, maxStarts: starts } = parsed.data.update;
  return { root: relativeToConfig(path, named), maxStarts: starts };
}

/**
 * systemd's ExecStartPre (`start`), ExecStopPost (`stop`) and the OnFailure= unit (`failed`), run from
 * the committed release whatever the new one does; one log line says what was decided. Nothing to do
 * on a gateway not installed in a release root (undefined).
 */
export async function runGuard(
  moment: GuardMoment,
  configPath: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GuardOutcome | undefined> {
  const settings = await guardSettings(configPath);
  const root = new ReleaseRoot(settings.root);
  if (!(await root.installed())) return undefined;
  const outcome =
    moment === 'start'
      ? await guardStart(root, { maxStarts: settings.maxStarts, now: Date.now() })
      : moment === 'stop'
        ? await guardStop(root, env)
        : await guardFailed(root);
  const logger = createLogger('educard-update-guard');
  const log = outcome.action === 'rolled-back' ? logger.warn.bind(logger) : logger.info.bind(logger);
  log(
    { action: outcome.action, phase: outcome.state.phase, version: outcome.state.version },
    outcome.message,
  );
  return outcome;
}
