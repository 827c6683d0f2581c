import { z } from 'zod';
import type { Logger } from '../log/index.js';
import { DurableJsonFile } from '../storage/index.js';

/** The lockdown the bridge set for this device's school, as the last signed `lockdown.set` said. */
export const BridgeLockdownState = z.object({
  active: z.boolean(),
  /** The bridge's count of its lockdown changes for the school: an older one is never applied. */
  version: z.number().int().nonnegative(),
  reason: z.string().max(200).optional(),
  /** When this device applied it (its clock). */
  since: z.string().optional(),
});
export type BridgeLockdownState = z.infer<typeof BridgeLockdownState>;

const NONE: BridgeLockdownState = { active: false, version: 0 };

/**
 * The school's lockdown as the bridge ordered it, kept on disk before it is in force, so that a gate
 * restarted with no network stays in lockdown. A damaged file is quarantined and read as no lockdown:
 * the bridge sends the school's lockdown again in its answer to the next birth.
 */
export class BridgeLockdown {
  private constructor(
    private readonly file: DurableJsonFile<BridgeLockdownState>,
    private current: BridgeLockdownState,
  ) {}

  static async open(path: string, logger: Logger): Promise<BridgeLockdown> {
    const file = new DurableJsonFile<BridgeLockdownState>(
      path,
      (value) => BridgeLockdownState.safeParse(value).success,
    );
    const stored = await file.read();
    if (file.damaged)
      logger.error(
        { reason: file.damaged.reason, quarantinedAs: file.damaged.quarantinedAs },
        "the bridge's lockdown state was damaged and is quarantined: no lockdown until the bridge says it again",
      );
    else if (stored?.active)
      logger.warn({ since: stored.since, reason: stored.reason }, 'in lockdown, as the bridge ordered');
    return new BridgeLockdown(file, stored ?? NONE);
  }

  get state(): BridgeLockdownState {
    return this.current;
  }

  get active(): boolean {
    return this.current.active;
  }

  /**
   * Takes the bridge's order when it is newer than the one in force; returns the state before it when
   * the lockdown came on or went off, undefined when nothing changed.
   */
  async apply(
    order: { active: boolean; version: number; reason?: string | undefined },
    now: Date,
  ): Promise<BridgeLockdownState | undefined> {
    const before = this.current;
    if (order.version <= before.version) return undefined;
    const next: BridgeLockdownState = {
      active: order.active,
      version: order.version,
      ...(order.reason ? { reason: order.reason } : {}),
      ...(order.active ? { since: (before.active && before.since) || now.toISOString() } : {}),
    };
    await this.file.write(next);
    this.current = next;
    return before.active === next.active ? undefined : before;
  }
}
