#!/usr/bin/env node
/**
 * The update guard as systemd runs it (deploy/educard-gateway.service, educard-gateway-rollback.service):
 * the same guard as `educard update guard`, without the CLI around it, so that it loads in a fraction
 * of the time. It runs twice in every restart of the service, while the gate cannot decide.
 */
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULT_CONFIG } from '../config/file.js';
import { GUARD_MOMENTS, type GuardMoment, runGuard } from './guard-run.js';

const USAGE = `usage: guard-main.js start|stop|failed [--config FILE]

For systemd only (docs/updates.md): "start" (ExecStartPre) counts the starts of a release on trial
and goes back to the committed release when it has had its share or missed its deadline; "stop"
(ExecStopPost) writes down how it stopped; "failed" (the OnFailure= unit) goes back after the start
limit. Reads the update section of the config (--config, EDUCARD_CONFIG, or ${DEFAULT_CONFIG}).
Exit status: 0 done, 1 failed, 2 bad usage or configuration.`;

const OPTIONS = { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } as const;
const parse = () => parseArgs({ allowPositionals: true, options: OPTIONS });

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [moment, ...rest] = parsed.positionals;
  if (!GUARD_MOMENTS.includes(moment as GuardMoment) || rest.length) {
    process.stderr.write(`error: the guard takes "start", "stop" or "failed"\n${USAGE}\n`);
    return 2;
  }
  try {
    await runGuard(
      moment as GuardMoment,
      parsed.values.config ?? process.env.EDUCARD_CONFIG ?? DEFAULT_CONFIG,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return error instanceof ConfigError ? 2 : 1;
  }
}

process.exit(await main());
