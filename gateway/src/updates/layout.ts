import { readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsyncDirectory, writeFileDurable } from '@educard/terminal-sdk/files';
// The contract's release schemas alone: the start and stop guards load this file, not the whole SDK.
import { ReleaseManifest, ReleaseOffer } from '@educard/terminal-sdk/release';
import { z } from 'zod';

export type LinkName = 'current' | 'committed' | 'previous';

/**
 * Where a device's update is at. The links say what runs and what is committed; this file says why
 * and what comes next, so that whatever process reads it after a crash (the release on trial, the
 * committed one, the start guard) reaches the same decision.
 */
export const UpdateState = z.object({
  phase: z
    .enum(['idle', 'staging', 'staged', 'trial', 'committed', 'rolled-back', 'refused'])
    .default('idle'),
  /** The offer being worked on (kept so that a restart resumes it without the bridge). */
  offer: ReleaseOffer.optional(),
  rollout: z.string().optional(),
  version: z.string().optional(),
  from: z.string().optional(),
  /** Starts of the release on trial so far, counted by the start guard. */
  starts: z.number().int().nonnegative().default(0),
  deadline: z.string().optional(),
  /** What the release before the switch had, for the commit check to compare with. */
  baseline: z
    .object({
      readers: z.array(z.string()),
      uplink: z.boolean(),
      rosterVersion: z.number().int().nonnegative(),
      lastSeq: z.number().int().nonnegative(),
    })
    .optional(),
  /** How the last run of a release on trial ended, as systemd told the stop guard. */
  lastExit: z.string().optional(),
  stage: z.enum(['verify', 'download', 'switch', 'check', 'start', 'technician']).optional(),
  reason: z.string().optional(),
  /** Whether the outcome (committed, rolled back) is in the journal yet. */
  journaled: z.boolean().default(false),
  /** `rollout/version` pairs that failed here: a retained offer of one is not tried again. */
  failed: z.array(z.string()).default([]),
});
export type UpdateState = z.infer<typeof UpdateState>;

export const attemptKey = (rollout: string, version: string) => `${rollout}/${version}`;

/** The release root on disk: release folders, the three links, downloads and the state file. */
export class ReleaseRoot {
  constructor(readonly dir: string) {}

  get releases(): string {
    return join(this.dir, 'releases');
  }

  get downloads(): string {
    return join(this.dir, 'downloads');
  }

  releaseDir(version: string): string {
    return join(this.releases, version);
  }

  stagingDir(version: string): string {
    return join(this.releases, `.${version}.staging`);
  }

  /**
   * The signed manifest a release was staged from (`release.json` in its folder, checked against the
   * release keys before a file of it was fetched), or undefined when it is missing or damaged.
   */
  async manifest(version: string): Promise<ReleaseManifest | undefined> {
    try {
      const envelope = JSON.parse(await readFile(join(this.releaseDir(version), 'release.json'), 'utf8'));
      return ReleaseManifest.parse(envelope.signed);
    } catch {
      return undefined;
    }
  }

  /** The version a link points at, or undefined when there is no such link. */
  async link(name: LinkName): Promise<string | undefined> {
    try {
      return basename(await readlink(join(this.dir, name)));
    } catch {
      return undefined;
    }
  }

  /** Whether this device runs from a release root at all (installed by install-gateway.sh or a release). */
  async installed(): Promise<boolean> {
    return (await this.link('current')) !== undefined;
  }

  /**
   * Points a link at a release in one step: a new link is made beside it and renamed over it, so a
   * crash leaves either the old link or the new one, never none (`ln -sf` unlinks first).
   */
  async point(name: LinkName, version: string): Promise<void> {
    const temp = join(this.dir, `.${name}.${process.pid}.tmp`);
    await rm(temp, { force: true });
    await symlink(join('releases', version), temp);
    await rename(temp, join(this.dir, name));
    await fsyncDirectory(this.dir);
  }

  async readState(): Promise<UpdateState> {
    try {
      return UpdateState.parse(JSON.parse(await readFile(join(this.dir, 'update-state.json'), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return UpdateState.parse({});
      throw new Error(`the update state in ${this.dir} is damaged: ${(error as Error).message}`);
    }
  }

  async writeState(state: UpdateState): Promise<void> {
    await writeFileDurable(join(this.dir, 'update-state.json'), `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Removes release folders other than those the links name, and leftovers of stagings. */
  async prune(): Promise<string[]> {
    const keep = new Set(
      (
        await Promise.all((['current', 'committed', 'previous'] as const).map((name) => this.link(name)))
      ).filter(Boolean),
    );
    const removed: string[] = [];
    for (const name of await readdir(this.releases).catch(() => [] as string[])) {
      if (keep.has(name)) continue;
      await rm(join(this.releases, name), { recursive: true, force: true });
      removed.push(name);
    }
    await rm(this.downloads, { recursive: true, force: true });
    return removed;
  }
}
