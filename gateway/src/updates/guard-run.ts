import { describeIssues } from '@educard/terminal-sdk/release';
import { z } from 'zod';
// Straight from their files: the guards run before and after every start of the service, and what
// they load is time a gate cannot decide during an update's restart (docs/updates.md).
import { ConfigError, readConfigJson, relativeToConfig } from '../config/file.js';
import { createLogger } from '../log/logger.js';
import { UpdateConfig } from './config.js';
import { type GuardOutcome, guardFailed, guardStart, guardStop } from './guard.js';
import { ReleaseRoot } from './layout.js';

export const GUARD_MOMENTS = ['start', 'stop', 'failed'] as const;
export type GuardMoment = (typeof GUARD_MOMENTS)[number];

const UpdateSection = z.object({ update: UpdateConfig.prefault({}) });

/**
 * The `update` section of the gateway's config, its root taken relative to the file as the gateway
 * takes it. Only that section: a mistake elsewhere in the file is the gateway's to report when it
 * refuses to start, and the guards still count that start and go back when a release on trial does.
 */
export async function guardSettings(path: string): Promise<UpdateConfig> {
  const parsed = UpdateSection.safeParse(await readConfigJson(path));
  if (!parsed.success) throw new ConfigError(path, describeIssues(parsed.error));
  const { update } = parsed.data;
  return { ...update, root: relativeToConfig(path, update.root) };
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
