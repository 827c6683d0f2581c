import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeIssues } from '@educard/terminal-sdk';
import { z } from 'zod';
import type { Logger } from '../../log/index.js';
import { SimulatedCard } from './card.js';
import type { SimulatedReaderDriver } from './driver.js';

/** One line of a tap script: JSON, one step a line, so a technician can type it or a test can write it. */
export const ScriptStep = z.discriminatedUnion('action', [
  z.object({ action: z.literal('present'), reader: z.string(), card: SimulatedCard }),
  z.object({ action: z.literal('remove'), reader: z.string() }),
  z.object({
    action: z.literal('tap'),
    reader: z.string(),
    card: SimulatedCard,
    holdMs: z.number().int().nonnegative().default(200),
  }),
  z.object({ action: z.literal('plug'), reader: z.string() }),
  z.object({ action: z.literal('unplug'), reader: z.string() }),
  z.object({ action: z.literal('wait'), ms: z.number().int().nonnegative().max(3_600_000) }),
]);
export type ScriptStep = z.input<typeof ScriptStep>;

export async function runStep(
  driver: SimulatedReaderDriver,
  step: z.output<typeof ScriptStep>,
): Promise<void> {
  switch (step.action) {
    case 'present':
      return driver.present(step.reader, step.card);
    case 'remove':
      return driver.remove(step.reader);
    case 'tap':
      driver.present(step.reader, step.card);
      await sleep(step.holdMs);
      return driver.remove(step.reader);
    case 'plug':
      return driver.plug(step.reader);
    case 'unplug':
      return driver.unplug(step.reader);
    case 'wait':
      await sleep(step.ms);
  }
}

/**
 * Plays a tap script from a stream (a file, or standard input) line by line. A bad line is logged
 * with its number and skipped; it never stops the gateway.
 */
export async function playScript(
  driver: SimulatedReaderDriver,
  input: Readable,
  logger: Logger,
): Promise<number> {
  let line = 0;
  let played = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    line += 1;
    if (!text.trim() || text.trimStart().startsWith('#')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      logger.warn({ line }, 'tap script line is not JSON; skipped');
      continue;
    }
    const step = ScriptStep.safeParse(parsed);
    if (!step.success) {
      logger.warn({ line, problem: describeIssues(step.error) }, 'tap script line is not a step; skipped');
      continue;
    }
    try {
      await runStep(driver, step.data);
      played += 1;
    } catch (error) {
      logger.warn({ line, reason: (error as Error).message }, 'tap script step failed; skipped');
    }
  }
  return played;
}

export function playScriptFile(driver: SimulatedReaderDriver, path: string, logger: Logger): Promise<number> {
  return playScript(driver, createReadStream(path), logger);
}
