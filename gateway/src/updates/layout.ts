import { readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fsyncDirectory, writeFileDurable } from '@educard/terminal-sdk/files';
// Types only: the start and stop guards load this file, and no schema library with it.
import type { ReleaseOffer } from '@educard/terminal-sdk/release';

export type LinkName = 'current' | 'committed' | 'previous';

const PHASES = ['idle', 'staging', 'staged', 'trial', 'committed', 'rolled-back', 'refused'] as const;
const STAGES = ['verify', 'download', 'switch', 'check', 'start', 'technician'] as const;

/**
 * Where a device's update is at. The links say what runs and what is committed; this file says why
 * and what comes next, so that whatever process reads it after a crash (the release on trial, the
 * committed one, the start guard) reaches the same decision.
 */
export interface UpdateState {
  phase: (typeof PHASES)[number];
  /**
   * The offer being worked on (kept so that a restart resumes it without the bridge). Checked here
   * only as an object: the agent checks it against the contract before it takes it again.
   */
  offer?: ReleaseOffer | undefined;
  rollout?: string | undefined;
  version?: string | undefined;
  from?: string | undefined;
  /** Starts of the release on trial so far, counted by the start guard. */
  starts: number;
  deadline?: string | undefined;
  /** What the release before the switch had, for the commit check to compare with. */
  baseline?: { readers: string[]; uplink: boolean; rosterVersion: number; lastSeq: number } | undefined;
  /** How the last run of a release on trial ended, as systemd told the stop guard. */
  lastExit?: string | undefined;
  stage?: (typeof STAGES)[number] | undefined;
  reason?: string | undefined;
  /** Whether the outcome (committed, rolled back) is in the journal yet. */
  journaled: boolean;
  /** `rollout/version` pairs that failed here: a retained offer of one is not tried again. */
  failed: string[];
}

/**
 * The state file's JSON as an {@link UpdateState}, defaults filled in; throws saying which field is
 * wrong. By hand rather than with a schema library: the start and stop guards read this file inside
 * every restart of the service, and loading one is most of a guard's time (docs/updates.md).
 */
export function parseUpdateState(value: unknown): UpdateState {
  const bad = (field: string, what: string): never => {
    throw new Error(`${field}: ${what}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('state', 'not an object');
  const json = value as Record<string, unknown>;
  const text = (field: string) => {
    const v = json[field];
    return v === undefined || typeof v === 'string' ? v : bad(field, 'not a string');
  };
  const count = (v: unknown, field: string) =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : bad(field, 'not a whole number ≥ 0');
  const strings = (v: unknown, field: string) =>
    Array.isArray(v) && v.every((s) => typeof s === 'string')
      ? (v as string[])
      : bad(field, 'not a list of strings');
  const oneOf = <T extends string>(v: unknown, allowed: readonly T[], field: string) =>
    allowed.includes(v as T) ? (v as T) : bad(field, `not one of ${allowed.join(', ')}`);
  const { offer, baseline, stage } = json;
  if (offer !== undefined && (typeof offer !== 'object' || offer === null)) bad('offer', 'not an object');
  let base: UpdateState['baseline'];
  if (baseline !== undefined) {
    const b = (typeof baseline === 'object' && baseline) || bad('baseline', 'not an object');
    const { readers, uplink, rosterVersion, lastSeq } = b as Record<string, unknown>;
    base = {
      readers: strings(readers, 'baseline.readers'),
      uplink: typeof uplink === 'boolean' ? uplink : bad('baseline.uplink', 'not true or false'),
      rosterVersion: count(rosterVersion, 'baseline.rosterVersion'),
      lastSeq: count(lastSeq, 'baseline.lastSeq'),
    };
  }
  const journaled = json.journaled ?? false;
  return {
    phase: json.phase === undefined ? 'idle' : oneOf(json.phase, PHASES, 'phase'),
    offer: offer as ReleaseOffer | undefined,
    rollout: text('rollout'),
    version: text('version'),
    from: text('from'),
    starts: json.starts === undefined ? 0 : count(json.starts, 'starts'),
    deadline: text('deadline'),
    baseline: base,
    lastExit: text('lastExit'),
    stage: stage === undefined ? undefined : oneOf(stage, STAGES, 'stage'),
    reason: text('reason'),
    journaled: typeof journaled === 'boolean' ? journaled : bad('journaled', 'not true or false'),
    failed: json.failed === undefined ? [] : strings(json.failed, 'failed'),
  };
}

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
      return parseUpdateState(JSON.parse(await readFile(join(this.dir, 'update-state.json'), 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return parseUpdateState({});
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
