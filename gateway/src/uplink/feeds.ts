import {
  backoffDelay,
  CatalogueSnapshotMessage,
  HotlistDeltaMessage,
  HotlistSnapshotMessage,
  parseMessage,
  RosterDeltaMessage,
  RosterKeySetsMessage,
  RosterSnapshotMessage,
  SerialQueue,
  type SyncReply,
  topics,
  UpdateOffer,
  VenuePlanMessage,
} from '@educard/terminal-sdk';
import { RosterRejected } from '../roster/index.js';
import type { UplinkDeps } from './deps.js';

const SNAPSHOT_GRACE_MS = 300;
/**
 * A hotlist snapshot not applied (its body not fetched, its key set not here yet) is tried again with
 * backoff from `initial` to `max` (jittered, so a district's venues do not all ask at once): the next
 * one may not come for hours, and a venue without the list admits cards the district has revoked.
 */
const HOTLIST_RETRY_MS = { initial: 1000, max: 300_000 };
/**
 * Hotlist snapshots heard and not applied yet, the newest kept. Several, because a claimed version is
 * not a verified one: a manifest no key here verifies must not hide a lower, genuine one behind it.
 */
const HOTLIST_CANDIDATES = 4;
const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024;

/** What the feeds take of the uplink's dependencies. */
export type FeedDeps = Pick<
  UplinkDeps,
  'config' | 'device' | 'school' | 'roster' | 'acceptRoster' | 'catalogue' | 'venue' | 'updates' | 'logger'
>;

/**
 * The signed data the bridge publishes for this device, each newer version fetched (bodies over HTTP,
 * refused unread when larger than their manifest) and handed to its store: the key sets, the roster
 * (deltas, and snapshots after a short grace for a delta of the same version), the library catalogue,
 * a venue's hotlist and plan, and release offers. What is checked against the key sets waits for the
 * key sets that came before it.
 */
export class SignedFeeds {
  private keySetWork: Promise<unknown> = Promise.resolve();
  private readonly keySetQueue = new SerialQueue();
  private latestSnapshot: RosterSnapshotMessage | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private asking: Promise<void> | undefined;
  private hotlistTimer: NodeJS.Timeout | undefined;
  private hotlistCandidates: HotlistSnapshotMessage[] = [];
  private hotlistFailures = 0;

  constructor(private readonly deps: FeedDeps) {}

  /** The topics the feeds follow on this connection. */
  topics(): string[] {
    const { school, device } = this.deps;
    return [
      topics.rosterKeySets(school),
      topics.rosterSnapshot(school, this.deps.roster.variant),
      topics.rosterDelta(school, this.deps.roster.variant),
      ...(this.deps.catalogue ? [topics.catalogueSnapshot(school)] : []),
      ...(this.deps.venue
        ? [
            topics.districtKeySets(),
            topics.hotlistSnapshot(),
            topics.hotlistDelta(),
            topics.venuePlan(school),
          ]
        : []),
      ...(this.deps.updates ? [topics.release(school, device)] : []),
    ];
  }

  /** A message on one of {@link topics}; rejects with the reason it was not taken. */
  onMessage(topic: string, payload: Buffer): Promise<void> {
    const { school, device } = this.deps;
    if (topic === topics.rosterKeySets(school) || topic === topics.districtKeySets())
      return this.keySetsArriving(this.onKeySets(payload));
    const { variant } = this.deps.roster;
    if (topic === topics.rosterDelta(school, variant)) return this.onDelta(payload);
    if (topic === topics.rosterSnapshot(school, variant)) return this.onSnapshot(payload);
    if (topic === topics.catalogueSnapshot(school)) return this.onCatalogue(payload);
    if (topic === topics.release(school, device)) return this.onRelease(payload);
    return this.onVenueMessage(topic, payload);
  }

  /**
   * The parts of the bridge's answer to a birth, each where its own topic's message would go, key sets
   * first. A part refused does not keep the others out (the answer is not asked for again): each is
   * tried, and the refusals are thrown together once all were.
   */
  applySync(reply: SyncReply): Promise<void> {
    const { keySets, rosterDelta, rosterSnapshot, catalogue, hotlist } = reply;
    const parts: [string, (() => unknown) | false | undefined][] = [
      ['keySets', keySets && (() => this.applyKeySets(keySets))],
      ['rosterDelta', rosterDelta && (() => this.applyDelta(rosterDelta))],
      ['rosterSnapshot', rosterSnapshot && (() => this.applySnapshot(rosterSnapshot))],
      ['catalogue', catalogue && (() => this.applyCatalogue(catalogue))],
      ['hotlist', hotlist && this.deps.venue && (() => this.takeHotlistSnapshot(hotlist))],
    ];
    return this.keySetsArriving(
      (async () => {
        const refused: string[] = [];
        for (const [part, apply] of parts) {
          if (!apply) continue;
          try {
            await apply();
          } catch (error) {
            refused.push(`${part}: ${(error as Error).message}`);
          }
        }
        // One error naming each part: the uplink logs it once (`uplink message not handled`).
        if (refused.length > 0) throw new Error(`sync answer parts not applied (${refused.join('; ')})`);
      })(),
    );
  }

  stop(): void {
    clearTimeout(this.snapshotTimer);
    clearTimeout(this.hotlistTimer);
  }

  /** Work that may bring key sets: what is checked against them waits for it. */
  private keySetsArriving(task: Promise<void>): Promise<void> {
    this.keySetWork = task.catch(() => undefined);
    return task;
  }

  private async onKeySets(payload: Buffer): Promise<void> {
    const parsed = parseMessage(RosterKeySetsMessage, payload);
    if (!parsed.ok) throw new Error(`bad key sets: ${parsed.error}`);
    await this.applyKeySets(parsed.value);
  }

  /**
   * One list at a time: the same key sets come on their retained topic and in a sync answer, and a
   * second list checked against the version held before the first was taken would offer its sets
   * again, which the store refuses (only N to N+1).
   */
  private applyKeySets(message: RosterKeySetsMessage): Promise<void> {
    const { roster } = this.deps;
    return this.keySetQueue.run(async () => {
      for (const envelope of message.keySets) {
        const version = (envelope.signed as { version?: unknown }).version;
        if (typeof version !== 'number' || version <= roster.keySetVersion) continue;
        await roster.acceptKeySet(Buffer.from(JSON.stringify(envelope)));
      }
    });
  }

  private async onRelease(payload: Buffer): Promise<void> {
    // An empty retained message clears the topic: nothing to do.
    if (payload.length === 0 || !this.deps.updates) return;
    // Key sets that came with this connection are taken first: a release may need the newest.
    await this.keySetWork;
    const parsed = parseMessage(UpdateOffer, payload);
    if (!parsed.ok) throw new Error(`bad release offer: ${parsed.error}`);
    this.deps.updates.offer(parsed.value);
  }

  private async onDelta(payload: Buffer): Promise<void> {
    const parsed = parseMessage(RosterDeltaMessage, payload);
    if (!parsed.ok) throw new Error(`bad roster delta: ${parsed.error}`);
    await this.applyDelta(parsed.value);
  }

  private async applyDelta(message: RosterDeltaMessage): Promise<void> {
    const { roster } = this.deps;
    const manifest = Buffer.from(JSON.stringify(message.manifest));
    const from = (message.manifest.signed as { body?: { fromVersion?: number } }).body?.fromVersion;
    // A delta that does not follow the roster in force waits for the snapshot.
    if (from !== (roster.view?.version ?? 0)) return;
    await this.deps.acceptRoster(manifest, Buffer.from(message.body, 'utf8'));
  }

  private async onSnapshot(payload: Buffer): Promise<void> {
    const parsed = parseMessage(RosterSnapshotMessage, payload);
    if (!parsed.ok) throw new Error(`bad roster snapshot manifest: ${parsed.error}`);
    this.applySnapshot(parsed.value);
  }

  private applySnapshot(message: RosterSnapshotMessage): void {
    this.latestSnapshot = message;
    // A delta for the same version may be on its way, and is far smaller: give it a moment.
    clearTimeout(this.snapshotTimer);
    this.snapshotTimer = setTimeout(() => {
      this.fetchSnapshotIfBehind().catch((error: unknown) =>
        this.deps.logger.warn({ reason: (error as Error).message }, 'roster snapshot not applied'),
      );
    }, SNAPSHOT_GRACE_MS);
  }

  private async fetchSnapshotIfBehind(message = this.latestSnapshot): Promise<void> {
    if (!message) return;
    const version = (message.manifest.signed as { version?: number }).version ?? 0;
    if (version <= (this.deps.roster.view?.version ?? 0)) return;
    await this.fetchSnapshot(message);
  }

  /**
   * Asks the bridge for its latest snapshot over HTTP, without waiting for the retained manifest (a
   * clustered broker may not hold it): the roster on disk was damaged, and an older one, or none, is
   * in force. Tried at start and at each connection until a roster newer than the one in force is in.
   */
  askForSnapshot(): Promise<void> {
    this.asking ??= this.askNow().finally(() => {
      this.asking = undefined;
    });
    return this.asking;
  }

  private async askNow(): Promise<void> {
    const { config, school, logger, roster } = this.deps;
    const url = new URL(`/v1/roster/${encodeURIComponent(school)}/latest`, config.bridgeHttp);
    if (roster.variant) url.searchParams.set('variant', roster.variant);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(30_000) });
      if (!response.ok) throw new Error(`${url} answered ${response.status}`);
      const parsed = parseMessage(RosterSnapshotMessage, new Uint8Array(await response.arrayBuffer()));
      if (!parsed.ok) throw new Error(`bad snapshot manifest from ${url}: ${parsed.error}`);
      this.latestSnapshot ??= parsed.value;
      await this.fetchSnapshotIfBehind(parsed.value);
      logger.info({ version: roster.view?.version }, 'fresh roster snapshot fetched after damage');
    } catch (error) {
      logger.warn(
        { reason: (error as Error).message },
        'fresh roster snapshot not fetched yet; tried again at the next connection',
      );
    }
  }

  async fetchSnapshotAgain(): Promise<void> {
    if (this.latestSnapshot) await this.fetchSnapshot(this.latestSnapshot);
  }

  private async fetchSnapshot(message: RosterSnapshotMessage): Promise<void> {
    const manifest = Buffer.from(JSON.stringify(message.manifest));
    await this.deps.acceptRoster(manifest, (verified) =>
      this.fetchBody('snapshot', message.url, verified.body.length),
    );
  }

  /** A body the bridge serves, refused unread when it says it is larger than its manifest. */
  private async fetchBody(what: string, path: string, expected: number): Promise<Uint8Array> {
    const url = new URL(path, this.deps.config.bridgeHttp);
    const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    // The path alone: the query holds the grant that lets this device fetch it, a secret while it lives.
    if (!response.ok)
      throw new Error(`${what} fetch ${url.origin}${url.pathname} answered ${response.status}`);
    const length = Number(response.headers.get('content-length') ?? 0);
    if (length > Math.min(expected, MAX_SNAPSHOT_BYTES)) {
      throw new Error(`${what} of ${length} bytes is larger than the manifest says`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  // The library catalogue: snapshots only, fetched when the retained manifest names a newer version.

  private async onCatalogue(payload: Buffer): Promise<void> {
    const { catalogue } = this.deps;
    if (!catalogue) return;
    await this.keySetWork;
    const parsed = parseMessage(CatalogueSnapshotMessage, payload);
    if (!parsed.ok) throw new Error(`bad catalogue manifest: ${parsed.error}`);
    await this.applyCatalogue(parsed.value);
  }

  private async applyCatalogue(message: CatalogueSnapshotMessage): Promise<void> {
    const { catalogue } = this.deps;
    if (!catalogue) return;
    const version = (message.manifest.signed as { version?: unknown }).version;
    if (typeof version === 'number' && version <= catalogue.version()) return;
    const { manifest, url } = message;
    await catalogue.accept(Buffer.from(JSON.stringify(manifest)), (verified) =>
      this.fetchBody('catalogue', url, verified.body.length),
    );
  }

  // A venue: the district's hotlist and the venue's plan, each checked against the key sets first.

  private onVenueMessage(topic: string, payload: Buffer): Promise<void> {
    if (!this.deps.venue) return Promise.resolve();
    if (topic === topics.hotlistDelta()) return this.onHotlistDelta(payload);
    if (topic === topics.hotlistSnapshot()) return this.onHotlistSnapshot(payload);
    if (topic === topics.venuePlan(this.deps.school)) return this.onVenuePlan(payload);
    return Promise.resolve();
  }

  private async onHotlistDelta(payload: Buffer): Promise<void> {
    const hotlist = this.deps.venue?.hotlist;
    if (!hotlist) return;
    await this.keySetWork;
    const parsed = parseMessage(HotlistDeltaMessage, payload);
    if (!parsed.ok) throw new Error(`bad hotlist delta: ${parsed.error}`);
    const from = (parsed.value.manifest.signed as { body?: { fromVersion?: number } }).body?.fromVersion;
    // A delta that does not follow the list in force waits for the snapshot.
    if (from !== hotlist.version()) return;
    await hotlist.accept(
      Buffer.from(JSON.stringify(parsed.value.manifest)),
      Buffer.from(parsed.value.body, 'base64'),
    );
  }

  private async onHotlistSnapshot(payload: Buffer): Promise<void> {
    const parsed = parseMessage(HotlistSnapshotMessage, payload);
    if (!parsed.ok) throw new Error(`bad hotlist snapshot manifest: ${parsed.error}`);
    this.takeHotlistSnapshot(parsed.value);
  }

  /** A snapshot's manifest, heard on its topic or in a sync answer: fetched when this venue is behind it. */
  private takeHotlistSnapshot(message: HotlistSnapshotMessage): void {
    const version = hotlistVersion(message);
    this.hotlistCandidates = [message, ...this.hotlistCandidates.filter((m) => hotlistVersion(m) !== version)]
      .sort((a, b) => hotlistVersion(b) - hotlistVersion(a))
      .slice(0, HOTLIST_CANDIDATES);
    this.hotlistFailures = 0;
    // The delta of the same version may be on its way, and is far smaller: give it a moment.
    this.fetchHotlistIn(SNAPSHOT_GRACE_MS);
  }

  private fetchHotlistIn(delayMs: number): void {
    clearTimeout(this.hotlistTimer);
    this.hotlistTimer = setTimeout(() => {
      this.fetchHotlistIfBehind().then(
        () => {
          this.hotlistFailures = 0;
        },
        (error: unknown) => {
          const retryInMs = backoffDelay(
            this.hotlistFailures++,
            HOTLIST_RETRY_MS.initial,
            HOTLIST_RETRY_MS.max,
          );
          this.deps.logger.warn(
            { reason: (error as Error).message, retryInMs },
            'hotlist snapshot not applied',
          );
          this.fetchHotlistIn(retryInMs);
        },
      );
    }, delayMs);
  }

  /**
   * Tries the candidates newest first until one is applied. One refused for good (a bad signature, an
   * expired or malformed manifest, a body that does not match it) is dropped; one that no key here
   * verifies yet (its key set may still be coming) or whose body could not be fetched is kept and
   * tried again, and the next lower one is tried now. Throws when one newer than the list in force is
   * left, so the caller tries again later.
   */
  private async fetchHotlistIfBehind(): Promise<void> {
    const hotlist = this.deps.venue?.hotlist;
    if (!hotlist) return;
    await this.keySetWork;
    let left: unknown;
    for (const message of this.hotlistCandidates) {
      if (hotlistVersion(message) <= hotlist.version()) break;
      try {
        await hotlist.accept(Buffer.from(JSON.stringify(message.manifest)), (verified) =>
          this.fetchBody('hotlist', message.url, verified.body.length),
        );
        break;
      } catch (error) {
        const kept = !(error instanceof RosterRejected) || error.code === 'unknown-key';
        this.deps.logger.debug(
          { version: hotlistVersion(message), reason: (error as Error).message, kept },
          'hotlist candidate refused',
        );
        if (kept) left ??= error;
        else this.hotlistCandidates = this.hotlistCandidates.filter((m) => m !== message);
      }
    }
    this.hotlistCandidates = this.hotlistCandidates.filter((m) => hotlistVersion(m) > hotlist.version());
    if (left !== undefined && this.hotlistCandidates.length > 0) throw left;
  }

  private async onVenuePlan(payload: Buffer): Promise<void> {
    const plan = this.deps.venue?.plan;
    if (!plan) return;
    await this.keySetWork;
    const parsed = parseMessage(VenuePlanMessage, payload);
    if (!parsed.ok) throw new Error(`bad venue plan: ${parsed.error}`);
    const version = (parsed.value.manifest.signed as { version?: unknown }).version;
    if (typeof version === 'number' && version <= plan.version()) return;
    await plan.accept(
      Buffer.from(JSON.stringify(parsed.value.manifest)),
      Buffer.from(parsed.value.body, 'utf8'),
    );
  }
}

function hotlistVersion(message: HotlistSnapshotMessage): number {
  return (message.manifest.signed as { version?: number }).version ?? 0;
}
