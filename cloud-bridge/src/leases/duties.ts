import type { Logger } from 'pino';
import type { LeaseTable } from './lease.js';

/** Work that one bridge instance at a time does: started when its lease is taken, stopped when lost. */
export interface Duty {
  name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

export interface DutiesOptions {
  /** This instance's name in the leases it holds (unique among the instances). */
  holder: string;
  /** Duties of one group are shared among the instances that hold the group, apart from other groups. */
  group: string;
  /** How long a lease lasts unrenewed: a dead holder's duties move within this and one `renewMs`. */
  ttlMs?: number;
  renewMs?: number;
  /**
   * Whether this instance can do its duties now (its broker connection is up): while it cannot, it
   * gives every duty up and leaves the instances counted, so the others take its share.
   */
  ready?: () => boolean;
  logger: Logger;
}

interface Held {
  duty: Duty;
  /** By this process's clock, measured from before the renewal: it stops work before another may start it. */
  until: number;
}

/**
 * The duties of several bridge instances on one database, shared through leases: each instance holds
 * about its share (the duties over the live instances, rounded up), takes a duty whose lease has
 * expired (its holder died) and gives up its surplus when another instance joins. A duty runs only
 * while its lease is held; an instance that cannot renew in time by its own clock stops it before
 * the lease can pass to another.
 */
export class Duties {
  private readonly held = new Map<string, Held>();
  /** Start and stop of one duty run one after another, whatever order gains and losses come in. */
  private readonly chains = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly ttlMs: number;
  private readonly renewMs: number;
  /** Each live instance holds a lease named with this prefix and its holder; they are counted to share the duties. */
  private readonly members: string;
  private readonly member: string;

  constructor(
    /** Undefined for a bridge that is alone on its store (SQLite): it holds every duty without a lease. */
    private readonly table: LeaseTable | undefined,
    private readonly duties: readonly Duty[],
    private readonly options: DutiesOptions,
  ) {
    this.ttlMs = options.ttlMs ?? 6000;
    this.renewMs = options.renewMs ?? Math.max(100, Math.floor(this.ttlMs / 3));
    this.members = `member/${options.group}/`;
    this.member = `${this.members}${options.holder}`;
  }

  /** The duties this instance holds now. */
  get holding(): string[] {
    return [...this.held.keys()].sort();
  }

  /**
   * Takes this instance's share at once (all of them when it is alone), then renews on a timer;
   * resolves once the duties taken in this first round have started.
   */
  async start(): Promise<void> {
    if (this.timer || this.held.size > 0) return;
    if (!this.table) {
      for (const duty of this.duties) this.held.set(duty.name, { duty, until: Number.POSITIVE_INFINITY });
      await Promise.all(this.duties.map((duty) => this.run(duty, 'start')));
      return;
    }
    this.tick();
    this.timer = setInterval(() => this.tick(), this.renewMs);
    this.timer.unref();
    await Promise.all([...this.held.keys()].map((name) => this.chains.get(name)));
  }

  /** Stops every duty held and releases its lease, so another instance takes it without waiting. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    const stopping = [...this.held.keys()].map((name) => this.lose(name, true));
    if (this.table) this.release(this.member);
    await Promise.all(stopping);
  }

  private tick(): void {
    if (!this.table) return;
    if (this.options.ready?.() === false) {
      if (this.held.size > 0) this.options.logger.warn('not ready for its duties: giving them up');
      for (const name of [...this.held.keys()]) void this.lose(name, true);
      this.release(this.member);
      return;
    }
    const asked = performance.now();
    let members: number;
    try {
      this.table.take(this.member, this.options.holder, this.ttlMs);
      members = Math.max(1, new Set(this.table.liveHolders(this.members)).size);
    } catch (error) {
      this.options.logger.warn({ err: error }, 'duties not renewed: database unreachable');
      for (const [name, held] of this.held) if (this.halfGone(held, asked)) void this.lose(name, false);
      return;
    }
    for (const name of [...this.held.keys()]) this.renew(this.table, name, asked);
    const share = Math.ceil(this.duties.length / members);
    // The surplus goes from the end of the list, so the instances agree on which duties move.
    for (const name of this.holding.reverse().slice(0, Math.max(0, this.held.size - share)))
      void this.lose(name, true);
    for (const duty of this.duties) {
      if (this.held.size >= share) break;
      if (!this.held.has(duty.name)) this.gain(this.table, duty, asked);
    }
  }

  /**
   * Stops a duty it could not renew once half its lease is left, not a tick before the end: a timer
   * late on a loaded host must not find the lease already passed on.
   */
  private halfGone(held: Held, asked: number): boolean {
    return held.until - asked <= Math.max(this.renewMs, this.ttlMs / 2);
  }

  private renew(table: LeaseTable, name: string, asked: number): void {
    const held = this.held.get(name) as Held;
    try {
      if (table.take(name, this.options.holder, this.ttlMs)) held.until = asked + this.ttlMs;
      else void this.lose(name, false);
    } catch (error) {
      this.options.logger.warn({ err: error, duty: name }, 'duty not renewed');
      if (this.halfGone(held, asked)) void this.lose(name, false);
    }
  }

  private gain(table: LeaseTable, duty: Duty, asked: number): void {
    let term: number | undefined;
    try {
      term = table.take(duty.name, this.options.holder, this.ttlMs)?.term;
    } catch (error) {
      this.options.logger.warn({ err: error, duty: duty.name }, 'duty not taken');
    }
    if (term === undefined) return;
    this.held.set(duty.name, { duty, until: asked + this.ttlMs });
    this.options.logger.info({ duty: duty.name, term }, 'duty taken');
    void this.run(duty, 'start');
  }

  /** Stops the duty; `release` gives its lease up (a clean hand-over), otherwise it expires. */
  private lose(name: string, release: boolean): Promise<void> {
    const held = this.held.get(name);
    if (!held) return Promise.resolve();
    this.held.delete(name);
    this.options.logger.info({ duty: name, released: release }, 'duty given up');
    const stopped = this.run(held.duty, 'stop');
    // Released only once stopped, so that the next holder never overlaps this one.
    return release ? stopped.then(() => this.release(name)) : stopped;
  }

  private run(duty: Duty, step: 'start' | 'stop'): Promise<void> {
    const next = (this.chains.get(duty.name) ?? Promise.resolve()).then(async () => {
      try {
        await duty[step]();
        // When another instance serves a duty after a failover (scale.failover_s times it to this line).
        if (step === 'start') this.options.logger.info({ duty: duty.name }, 'duty started');
      } catch (error) {
        this.options.logger.error({ err: error, duty: duty.name }, `duty failed to ${step}`);
      }
    });
    this.chains.set(duty.name, next);
    return next;
  }

  private release(name: string): void {
    try {
      this.table?.release(name, this.options.holder);
    } catch (error) {
      this.options.logger.warn({ err: error, duty: name }, 'lease not released: it expires instead');
    }
  }
}
