import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  backoffDelay,
  compareVersions,
  type EventData,
  oneWayFormats,
  ReleaseManifest,
  ReleaseOffer,
  ReleaseRefused,
  type RosterKeySet,
  releaseArchOf,
  type UpdateOffer,
  type UpdateProgress,
  verifyReleaseSignatures,
} from '@educard/terminal-sdk';
import type { Logger } from '../log/index.js';
import type { PolicyConfig } from '../policy/index.js';
import type { RosterView } from '../roster/index.js';
import { runSelfTest } from './check.js';
import type { UpdateConfig } from './config.js';
import { FIRMWARE } from './firmware.js';
import { commit, type RollbackStage, rollBack } from './guard.js';
import { attemptKey, type ReleaseRoot, type UpdateState } from './layout.js';
import { fetchManifest, type ReleaseSource, stageRelease } from './stage.js';

type Offer = ReleaseOffer;
export type Progress = Omit<UpdateProgress, 'v' | 'device' | 'at' | 'running'>;
/** Progress as the agent says it: the uplink adds the device. */
export type DeviceProgress = Omit<UpdateProgress, 'device'>;
type UpdateEventType = 'update.switched' | 'update.committed' | 'update.failed';
type UpdateEvent = { [T in UpdateEventType]: { type: T; data: EventData<T> } }[UpdateEventType];

/** What the commit check compares the new release with: what the release before it had. */
export type Baseline = NonNullable<UpdateState['baseline']>;

export interface UpdateAgentDeps {
  config: UpdateConfig;
  root: ReleaseRoot;
  logger: Logger;
  /** The wall clock the gateway trusts. */
  now: () => number;
  /** The newest root-signed key set the device holds: its `releases` role is the only trust for code. */
  keySet: () => RosterKeySet | undefined;
  /** Appends an event to the journal, and makes what was appended durable. */
  record: (event: UpdateEvent) => void;
  flush: () => Promise<void>;
  /** Sends progress to the bridge (when connected; the agent says it again on every connect). */
  report: (progress: DeviceProgress) => void;
  /** The bridge's release files, when the gateway has an uplink. */
  source: (files: string) => ReleaseSource | undefined;
  /** Why the gateway must not switch now (a card on a reader, a library transaction), or nothing. */
  busy: () => string | undefined;
  /** What this gateway has now, for the next release's commit check. */
  baseline: () => Baseline;
  /** What the commit check reads of the running gateway. */
  live: () => {
    readers: string[];
    uplink: boolean;
    roster: RosterView | undefined;
    verifyJournal: () => Promise<{ ok: true; lastSeq: number } | { ok: false; problem: string }>;
    zone: string;
    policy: PolicyConfig;
  };
  /** Stops the gateway and exits, for the service manager to start the release `current` names. */
  restart: (why: string) => void;
}

/** The first wait before an offer whose download failed is tried again; it doubles up to ten times that. */
const RETRY_OFFER_MS = 30_000;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });

/**
 * The device's side of an update, after Mender and RAUC: verify the offered release against the release
 * keys, download what the device lacks, wait for the update lock (no card on a reader, no library
 * transaction, outside the school's arrival and dismissal), switch `current` and restart; then, in the
 * new release, pass the commit check (roster, journal, readers, broker, the signed self-test taps)
 * before its deadline, or go back by itself. Every outcome is journaled and reported to the bridge.
 */
export class UpdateAgent {
  private state: UpdateState | undefined;
  private work: AbortController | undefined;
  private running: Promise<void> = Promise.resolve();
  private lastProgress: DeviceProgress | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Tries of the offer under way that failed on the network or the disk, for the wait before the next. */
  private failedTries = 0;
  private stopped = false;

  constructor(private readonly deps: UpdateAgentDeps) {}

  /** The release this process runs. */
  get version(): string {
    return FIRMWARE.version;
  }

  /** Settles what the state file says happened before this start, then goes on with it. */
  async start(): Promise<void> {
    const { root, logger } = this.deps;
    let state = await root.readState();
    const current = await root.link('current');
    const committed = await root.link('committed');
    const me = this.version;
    if (state.phase === 'trial') {
      if (state.version === me && current === me && committed !== me) {
        this.state = state;
        this.checkNow(state);
        return;
      }
      if (state.version === me && committed === me) state = await commit(root, state);
      else if (state.starts === 0 && current === me && state.offer) {
        logger.warn(
          { version: state.version },
          'the switch was cut short before the link moved: waiting again',
        );
        state = { ...state, phase: 'staged' };
        await root.writeState(state);
      } else {
        state = await rollBack(
          root,
          state,
          'start',
          `it stopped before its commit check passed (${state.lastExit ?? 'the device restarted'})`,
        );
      }
    }
    this.state = state;
    await this.settle();
    if ((state.phase === 'staging' || state.phase === 'staged') && state.offer) {
      // Kept by this device, but perhaps by a release of another contract: taken again only as an offer now.
      const kept = ReleaseOffer.safeParse(state.offer);
      if (kept.success) this.take(kept.data);
      else {
        logger.warn(
          { version: state.version },
          'the kept offer is not one this release reads: waiting for the bridge',
        );
        this.state = { ...state, phase: 'idle', offer: undefined };
        await root.writeState(this.state);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.work?.abort(new Error('the gateway is stopping'));
    clearTimeout(this.checkTimer);
    clearTimeout(this.retryTimer);
  }

  /** What `educard update status` shows of the running gateway. */
  status() {
    return { running: this.version, state: this.state, progress: this.lastProgress };
  }

  /** An offer or a withdrawal from the bridge. */
  offer(offer: UpdateOffer): void {
    const state = this.state;
    if (!state || this.stopped || state.phase === 'trial') return;
    if (offer.kind === 'withdraw') {
      if (state.rollout === offer.rollout && (state.phase === 'staging' || state.phase === 'staged')) {
        this.deps.logger.info({ rollout: offer.rollout }, 'update withdrawn by the bridge');
        this.work?.abort(new Error('withdrawn'));
        void this.save({ ...state, phase: 'idle', offer: undefined });
      }
      return;
    }
    const { version } = offer.manifest;
    if (state.failed.includes(attemptKey(offer.rollout, version))) {
      this.progress({
        rollout: offer.rollout,
        version,
        state: 'rolled-back',
        detail: state.reason ?? 'failed here before',
      });
      return;
    }
    const same = state.rollout === offer.rollout && state.version === version;
    if (same && (state.phase === 'staging' || state.phase === 'staged')) {
      // Fresher quiet windows for the update under way.
      void this.save({ ...state, offer });
      return;
    }
    if (same && state.phase !== 'idle') {
      if (this.lastProgress) this.deps.report(this.lastProgress);
      return;
    }
    this.take(offer);
  }

  /** Says the latest progress again: the bridge may have missed it while the link was down. */
  connected(): void {
    if (this.lastProgress) this.deps.report(this.lastProgress);
  }

  /** A technician's `educard update commit`: the release on trial stays, without its check. */
  async commitNow(): Promise<UpdateState> {
    const state = this.state;
    if (state?.phase !== 'trial') throw new Error('no release is on trial');
    clearTimeout(this.checkTimer);
    return this.committed(state);
  }

  /** A technician's `educard update rollback`: back to the committed release, or to the previous one. */
  async rollbackNow(): Promise<UpdateState> {
    const state = await this.deps.root.readState();
    const next = await technicianRollback(this.deps.root, state);
    this.state = next;
    this.deps.restart('rolled back by a technician');
    return next;
  }

  private take(offer: Offer, again = false): void {
    clearTimeout(this.retryTimer);
    if (!again) this.failedTries = 0;
    this.work?.abort(new Error('superseded'));
    const work = new AbortController();
    this.work = work;
    this.running = this.running.then(() => this.apply(offer, work.signal)).catch(() => undefined);
  }

  private async apply(offer: Offer, signal: AbortSignal): Promise<void> {
    const { root, logger } = this.deps;
    const { version } = offer.manifest;
    const base = { rollout: offer.rollout, version };
    let stage: RollbackStage = 'download';
    try {
      const envelope = await this.fetchManifest(offer, signal);
      stage = 'verify';
      const manifest = this.verify(offer, envelope);
      if (compareVersions(manifest.version, this.version) === 0) {
        this.progress({ ...base, state: 'committed', detail: 'already running it' });
        return;
      }
      const held = this.state as UpdateState;
      await this.save({
        ...held,
        phase: 'staging',
        offer,
        rollout: offer.rollout,
        version,
        from: this.version,
      });
      stage = 'download';
      const source = this.deps.source(offer.files);
      if (!source) throw new Error('no uplink to fetch the release from');
      this.progress({ ...base, state: 'downloading' });
      const fetched = await stageRelease({
        root,
        manifest,
        envelope,
        source,
        parallel: this.deps.config.parallelDownloads,
        retries: this.deps.config.downloadRetries,
        logger,
        signal,
        onProgress: (bytes) => this.progress({ ...base, state: 'downloading', bytes }, false),
      });
      logger.info({ version, ...fetched }, 'release staged');
      await this.save({ ...(this.state as UpdateState), phase: 'staged' });
      stage = 'switch';
      await this.waitForLock(base, signal);
      await this.switchIn(offer, version);
    } catch (error) {
      if (signal.aborted) return;
      const reason = (error as Error).message;
      logger.warn({ version, stage, reason }, 'update refused');
      if (error instanceof ReleaseRefused || stage === 'verify') {
        const state = this.state as UpdateState;
        await this.save({
          ...state,
          phase: 'refused',
          offer: undefined,
          rollout: offer.rollout,
          version,
          stage,
          reason,
          failed: [...new Set([...state.failed, attemptKey(offer.rollout, version)])],
          journaled: true,
        });
        this.deps.record({
          type: 'update.failed',
          data: {
            version,
            running: this.version,
            stage,
            reason: reason.slice(0, 512),
            rollout: offer.rollout,
          },
        });
        this.progress({ ...base, state: 'refused', detail: reason.slice(0, 512) });
        return;
      }
      // A network or disk failure: tried again after a wait (a fresher offer or a reconnect sooner), so that a
      // device that stays connected does not hold its rollout for ever.
      const waitMs = backoffDelay(this.failedTries++, RETRY_OFFER_MS, 10 * RETRY_OFFER_MS);
      this.progress({ ...base, state: 'downloading', detail: `will retry: ${reason.slice(0, 480)}` });
      this.retryTimer = setTimeout(() => {
        if (!this.stopped && this.work?.signal === signal) this.take(offer, true);
      }, waitMs);
    }
  }

  /** The signed manifest the offer names, its bytes matching the offer's SHA-256 and size, as JSON. */
  private async fetchManifest(offer: Offer, signal: AbortSignal): Promise<unknown> {
    const source = this.deps.source(offer.manifest.from);
    if (!source) throw new Error('no uplink to fetch the release from');
    const bytes = await fetchManifest({
      root: this.deps.root,
      manifest: offer.manifest,
      source,
      retries: this.deps.config.downloadRetries,
      logger: this.deps.logger,
      signal,
    });
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ReleaseRefused('malformed', `the manifest of ${offer.manifest.version} is not JSON`);
    }
  }

  /** Everything a release must be before a byte of its files is fetched. */
  private verify(offer: Offer, envelope: unknown): ReleaseManifest {
    const keySet = this.deps.keySet();
    if (!keySet) throw new ReleaseRefused('no-release-keys', 'the device holds no key set yet');
    const manifest = verifyReleaseSignatures(envelope, keySet);
    if (manifest.version !== offer.manifest.version)
      throw new ReleaseRefused(
        'tampered',
        `the offer names ${offer.manifest.version}, the signed manifest it points at is ${manifest.version}`,
      );
    const arch = releaseArchOf();
    if (manifest.arch !== arch)
      throw new ReleaseRefused('wrong-arch', `the release is for ${manifest.arch}, this device is ${arch}`);
    if (compareVersions(process.versions.node, manifest.node) < 0)
      throw new ReleaseRefused(
        'node-too-old',
        `it needs Node ${manifest.node}, this device has ${process.versions.node}`,
      );
    if (Date.parse(manifest.expiresAt) <= this.deps.now())
      throw new ReleaseRefused('expired', `its manifest expired at ${manifest.expiresAt}`);
    if (compareVersions(manifest.version, this.version) < 0)
      throw new ReleaseRefused(
        'rollback',
        `${manifest.version} is older than ${this.version}, which runs here`,
      );
    const oneWay = oneWayFormats(FIRMWARE.dataFormats, manifest.formats);
    if (oneWay.length && !offer.allowOneWay)
      throw new ReleaseRefused(
        'one-way',
        `it writes ${oneWay.join(', ')}, which ${this.version} cannot read: a rollout must allow the one-way step`,
      );
    return manifest;
  }

  /** Why the switch must wait now, or nothing. */
  private lockHeld(offer: Offer): string | undefined {
    const busy = this.deps.busy();
    if (busy) return busy;
    const now = this.deps.now();
    if (now >= Date.parse(offer.quietUntil))
      return "the bridge's quiet windows ran out: waiting for a fresh offer";
    const window = offer.quiet.find((w) => Date.parse(w.from) <= now && now < Date.parse(w.to));
    return window ? `inside the school's ${window.why} window until ${window.to}` : undefined;
  }

  private async waitForLock(base: { rollout: string; version: string }, signal: AbortSignal): Promise<void> {
    let said: string | undefined;
    for (;;) {
      signal.throwIfAborted();
      const offer = (this.state as UpdateState).offer as Offer;
      const held = this.lockHeld(offer);
      if (!held) return;
      if (held !== said) {
        said = held;
        this.deps.logger.info({ version: base.version, reason: held }, 'update waits');
        this.progress({ ...base, state: 'waiting', detail: held });
      }
      await sleep(this.deps.config.lockPollMs, signal);
    }
  }

  private async switchIn(offer: Offer, version: string): Promise<void> {
    const { root, logger, config } = this.deps;
    const state: UpdateState = {
      ...(this.state as UpdateState),
      phase: 'trial',
      starts: 0,
      lastExit: undefined,
      deadline: new Date(this.deps.now() + config.commitTimeoutMs).toISOString(),
      baseline: this.deps.baseline(),
    };
    await this.save(state);
    this.deps.record({
      type: 'update.switched',
      data: { from: this.version, to: version, rollout: offer.rollout },
    });
    await this.deps.flush();
    this.progress({ rollout: offer.rollout, version, state: 'switching' });
    logger.info({ from: this.version, to: version }, 'update switching');
    await root.point('current', version);
    this.deps.restart(`switching to ${version}`);
  }

  /** The new release's commit check; runs in the release on trial, against its deadline. */
  private checkNow(state: UpdateState): void {
    const base = { rollout: state.rollout ?? 'local', version: this.version };
    const deadline = Date.parse(state.deadline ?? '') || this.deps.now() + this.deps.config.commitTimeoutMs;
    this.progress({ ...base, state: 'checking' });
    this.deps.logger.info(
      { version: this.version, deadline: new Date(deadline).toISOString() },
      'commit check started',
    );
    let missing = 'the check did not finish';
    const fail = (stage: RollbackStage, reason: string) => {
      if (this.stopped || this.state?.phase !== 'trial') return;
      this.stopped = true;
      clearTimeout(this.checkTimer);
      this.deps.logger.error({ version: this.version, reason }, 'commit check failed: going back');
      void rollBack(this.deps.root, state, stage, reason).then(
        (next) => {
          this.state = next;
          this.deps.restart(`rolled back: ${reason}`);
        },
        (error: unknown) => this.deps.logger.error({ err: error }, 'rollback failed'),
      );
    };
    this.checkTimer = setTimeout(
      () => fail('check', `its commit check did not pass in time: ${missing}`),
      Math.max(0, deadline - this.deps.now()),
    );
    const baseline = state.baseline;
    const run = async () => {
      for (;;) {
        if (this.stopped) return;
        const live = this.deps.live();
        const lacking = [
          ...(baseline?.readers ?? [])
            .filter((reader) => !live.readers.includes(reader))
            .map((r) => `reader ${r} not bound`),
          ...(baseline?.uplink && !live.uplink ? ['the broker not reached'] : []),
        ];
        if (!lacking.length) break;
        missing = lacking.join(', ');
        await sleep(100);
      }
      const live = this.deps.live();
      const version = live.roster?.version ?? 0;
      if (version < (baseline?.rosterVersion ?? 0))
        return fail('check', `roster version ${version} loaded, ${baseline?.rosterVersion} was in force`);
      const journal = await live.verifyJournal();
      if (!journal.ok) return fail('check', `the journal does not verify: ${journal.problem}`);
      if (journal.lastSeq < (baseline?.lastSeq ?? 0))
        return fail('check', `the journal ends at ${journal.lastSeq}, it had ${baseline?.lastSeq}`);
      const manifest = await stagedManifest(this.deps.root, this.version);
      if (!manifest) return fail('check', 'its release.json is missing or damaged');
      const wrong = runSelfTest(manifest.selfTest, {
        zone: live.zone,
        policy: live.policy,
        now: this.deps.now(),
        ...(live.roster ? { calendar: live.roster.calendar } : {}),
      });
      if (wrong.length) return fail('check', `self-test: ${wrong.join('; ')}`);
      if (this.stopped || this.state?.phase !== 'trial') return;
      clearTimeout(this.checkTimer);
      await this.committed(state);
    };
    run().catch((error: unknown) => fail('check', `the check itself failed: ${(error as Error).message}`));
  }

  private async committed(state: UpdateState): Promise<UpdateState> {
    const next = await commit(this.deps.root, state);
    // Pruned before the commit is known: the bridge's next offer follows the report, and its download
    // must not find the downloads folder being removed under it.
    const removed = await this.deps.root.prune();
    this.state = next;
    await this.settle();
    this.deps.logger.info({ version: this.version, removed }, 'update committed');
    return next;
  }

  /** Journals and reports an outcome not journaled yet (a commit, a rollback by anyone, a refusal). */
  private async settle(): Promise<void> {
    const state = this.state as UpdateState;
    if (state.journaled || !state.version) return;
    const rollout = state.rollout;
    const base = { rollout: rollout ?? 'local', version: state.version };
    if (state.phase === 'committed') {
      this.deps.record({
        type: 'update.committed',
        data: { from: state.from ?? 'unknown', to: state.version, ...(rollout ? { rollout } : {}) },
      });
      this.progress({ ...base, state: 'committed' });
    } else if (state.phase === 'rolled-back') {
      this.deps.record({
        type: 'update.failed',
        data: {
          version: state.version,
          running: this.version,
          stage: state.stage ?? 'start',
          reason: (state.reason ?? 'unknown').slice(0, 512),
          ...(rollout ? { rollout } : {}),
        },
      });
      this.progress({ ...base, state: 'rolled-back', detail: (state.reason ?? 'unknown').slice(0, 512) });
    } else return;
    await this.deps.flush();
    await this.save({ ...state, journaled: true });
  }

  private progress(progress: Progress, log = true): void {
    const message: DeviceProgress = {
      v: 1,
      running: this.version,
      at: new Date(this.deps.now()).toISOString(),
      ...progress,
    };
    this.lastProgress = message;
    if (log) this.deps.logger.info({ update: progress }, 'update progress');
    this.deps.report(message);
  }

  private async save(state: UpdateState): Promise<void> {
    this.state = state;
    await this.deps.root.writeState(state);
  }
}

/**
 * The signed manifest a release was staged from (`release.json` in its folder, checked against the
 * release keys before a file of it was fetched), or undefined when it is missing or damaged.
 */
export async function stagedManifest(
  root: ReleaseRoot,
  version: string,
): Promise<ReleaseManifest | undefined> {
  try {
    const envelope = JSON.parse(await readFile(join(root.releaseDir(version), 'release.json'), 'utf8'));
    return ReleaseManifest.parse(envelope.signed);
  } catch {
    return undefined;
  }
}

/**
 * A technician's rollback: a release on trial goes back to the committed one; otherwise the committed
 * release goes back to the previous one, which becomes committed. Either way the release left is not
 * taken again from the same rollout.
 */
export async function technicianRollback(root: ReleaseRoot, state: UpdateState): Promise<UpdateState> {
  const current = await root.link('current');
  const committed = await root.link('committed');
  if (current && committed && current === committed) {
    const previous = await root.link('previous');
    if (!previous) throw new Error('there is no previous release to go back to');
    await root.point('committed', previous);
  }
  return rollBack(root, { ...state, version: current }, 'technician', 'rolled back by a technician');
}
