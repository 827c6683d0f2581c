import { randomBytes } from 'node:crypto';
import {
  type CardStatus,
  encodeHotlist,
  HOTLIST_HASH_KEY_BYTES,
  HOTLIST_STATUSES,
  type HotlistChange,
  HotlistManifest,
  type HotlistSnapshotMessage,
  type HotlistStatus,
  HotlistTable,
  hotlistEntries,
  type IssuedHotlist,
  issueHotlist,
  MAX_MESSAGE_BYTES,
  maskCardId,
  parseHotlistHeader,
  SerialQueue,
  SPEC_VERSION,
  topics,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BodyGrants } from '../grants/index.js';
import { needsRenewal, RENEWAL_CHECK_MS, type RosterKeyring, renewalTimer } from '../roster/index.js';
import { type BridgeStore, lockWithinTransaction } from '../store/index.js';
import { announceKeySets, RETAINED } from './announce.js';

/** Where a card's revocation came from: the bridge's own rosters, or the central system's feed. */
export type HotlistSource = 'roster' | 'central';

/** A card's status as a source gives it: anything but lost, cancelled or suspended takes it off. */
export interface HotlistInput {
  cardId: string;
  status: CardStatus | 'active' | (string & {});
}

export interface HotlistServiceDeps {
  store: BridgeStore;
  client: MqttClient;
  keys: RosterKeyring;
  logger: Logger;
  /** Signs the snapshot URL it announces: the body is served only with a live grant (docs/hotlist.md). */
  grants: BodyGrants;
  /** The clock lists are signed by (the bridge's). */
  now?: () => Date;
  /** How long a manifest stays valid; signed again, unchanged but for its version, before half has passed. */
  manifestTtlMs?: number;
  renewalCheckMs?: number;
}

export interface HotlistStatusView {
  version: number;
  entries: number;
  bytes: number;
  issuedAt?: string;
  expiresAt?: string;
}

const DEFAULT_TTL_MS = 2 * 86_400_000;
/** A delta larger than this would not fit one message in base64: the snapshot carries it instead. */
const MAX_DELTA_BYTES = Math.floor((MAX_MESSAGE_BYTES * 3) / 4) - 64 * 1024;
/** Snapshot bodies kept to serve: a gateway may fetch the one announced a moment before the latest. */
const KEPT_BODIES = 3;
/** Of several sources, the list keeps the strongest reason (as docs/hotlist.md says of key collisions). */
const RANK: Record<HotlistStatus, number> = { suspended: 1, lost: 2, cancelled: 3 };
const revoked = (status: string): status is HotlistStatus =>
  (HOTLIST_STATUSES as readonly string[]).includes(status);

/** A roster's card as the hotlist reads it: its status, and why when it says more than the status. */
type RosterCardInput = HotlistInput & { statusReason?: string };

/**
 * A card a pupil took to another school of the district stays cancelled on the old roster (reason
 * `transferred`) and is active on the new one: it is not revoked, whichever roster speaks last.
 */
const rosterInput = (card: RosterCardInput): HotlistInput => ({
  cardId: card.cardId,
  status: card.statusReason === 'transferred' ? 'active' : card.status,
});

/** The snapshot body's URL on the bridge, which venues fetch when they cannot follow by delta. */
export const hotlistPath = (version: number) => `/v1/hotlist/snapshots/${version}`;

/**
 * The district's hotlist (docs/hotlist.md): every card the bridge's rosters or the central system's
 * feed give as lost, cancelled or suspended, published as the rosters are: each change a new version,
 * a small delta and a whole snapshot, each behind a signed manifest, retained on the district's
 * topics. The list in force is held as one buffer and each delta merged into it, so a change costs
 * the size of the list in copying, not a rebuild.
 */
export class HotlistService {
  private readonly queue = new SerialQueue();
  private renewal: { stop(): void } | undefined;
  private table: HotlistTable | undefined;
  private hashKey: Buffer = randomBytes(HOTLIST_HASH_KEY_BYTES);
  private readonly sql;

  constructor(private readonly deps: HotlistServiceDeps) {
    const db = deps.store.database;
    this.sql = {
      statuses: db.prepare<[string], { status: HotlistStatus }>(
        'SELECT status FROM hotlist_entries WHERE card_id = ?',
      ),
      all: db.prepare<[], { card_id: string; status: HotlistStatus }>(
        'SELECT card_id, status FROM hotlist_entries',
      ),
      ofSource: db.prepare<[HotlistSource], { card_id: string; status: HotlistStatus }>(
        'SELECT card_id, status FROM hotlist_entries WHERE source = ?',
      ),
      put: db.prepare(
        `INSERT INTO hotlist_entries (card_id, source, status, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (card_id, source) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
      ),
      remove: db.prepare('DELETE FROM hotlist_entries WHERE card_id = ? AND source = ?'),
      latest: db.prepare<
        [],
        {
          version: number;
          manifest: string;
          body: Buffer | null;
          delta_manifest: string | null;
          delta_body: Buffer | null;
        }
      >('SELECT * FROM hotlist_versions ORDER BY version DESC LIMIT 1'),
      latestVersion: db.prepare<[], number | null>('SELECT max(version) FROM hotlist_versions').pluck(),
      body: db.prepare<[number], { body: Buffer | null }>(
        'SELECT body FROM hotlist_versions WHERE version = ?',
      ),
      insert: db.prepare(
        'INSERT INTO hotlist_versions (version, manifest, body, delta_manifest, delta_body, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      prune: db.prepare('UPDATE hotlist_versions SET body = NULL WHERE version <= ? AND body IS NOT NULL'),
    };
  }

  /**
   * Takes up the list last published (its hash key with it), brings the rosters' revocations in, and
   * publishes what changed, or signs the list again when it needs it, or announces it as it is.
   */
  async start(): Promise<void> {
    await this.queue.run(async () => {
      this.catchUp();
      const changed = this.record('roster', this.rosterRevocations(), true);
      if (!this.table || changed.size > 0 || this.due()) await this.publish(changed.keys());
      else await this.announce();
    });
  }

  /** Signs again or announces on a timer: one instance's work among those sharing the store. */
  startRenewals(): void {
    this.renewal ??= renewalTimer(() => this.renew(), {
      everyMs: this.deps.renewalCheckMs ?? RENEWAL_CHECK_MS,
      logger: this.deps.logger,
      what: 'hotlist renewal',
    });
  }

  stopRenewals(): void {
    this.renewal?.stop();
    this.renewal = undefined;
  }

  /** Cards changed on the bridge's rosters (a card reported lost, reactivated, reissued): published at once. */
  rosterChanged(cards: readonly RosterCardInput[]): Promise<number | undefined> {
    return this.change('roster', cards.map(rosterInput));
  }

  /** The central system's revocations (its feed's `hotlist` records), of this district's cards or others'. */
  applyCentral(changes: readonly HotlistInput[]): Promise<number | undefined> {
    return this.change('central', changes);
  }

  /**
   * Signs the list again when it was signed under an older key set or is past half its validity;
   * otherwise announces the snapshot's URL again with a fresh grant, so a venue that connects later
   * can still fetch it.
   */
  renew(): Promise<number | undefined> {
    return this.queue.run(async () => {
      if (this.due()) return this.publish([]);
      const latest = this.sql.latest.get();
      if (latest) await this.announceSnapshot(latest);
      return undefined;
    });
  }

  /** A snapshot body still kept, for the HTTP route. */
  snapshot(version: number): Uint8Array | undefined {
    return this.sql.body.get(version)?.body ?? undefined;
  }

  status(): HotlistStatusView {
    this.catchUp();
    const latest = this.sql.latest.get();
    const manifest = latest ? HotlistManifest.safeParse(JSON.parse(latest.manifest).signed) : undefined;
    return {
      version: this.table?.version ?? 0,
      entries: this.table?.size ?? 0,
      bytes: this.table?.byteLength ?? 0,
      ...(manifest?.success ? { issuedAt: manifest.data.issuedAt, expiresAt: manifest.data.expiresAt } : {}),
    };
  }

  private change(source: HotlistSource, inputs: readonly HotlistInput[]): Promise<number | undefined> {
    return this.queue.run(async () => {
      const changed = this.record(source, inputs, false);
      if (changed.size === 0) return undefined;
      const version = await this.publish(changed.keys());
      this.deps.logger.info(
        { version, source, changes: changed.size, sample: [...changed.keys()].slice(0, 3).map(maskCardId) },
        'hotlist changed',
      );
      return version;
    });
  }

  /**
   * Writes what a source says of each card, and returns the cards whose effective status changed
   * (`removed` for a card no longer revoked by any source). With `whole`, the inputs are all the
   * source's revocations: its cards not among them are taken off.
   */
  private record(
    source: HotlistSource,
    inputs: readonly HotlistInput[],
    whole: boolean,
  ): Map<string, HotlistChange> {
    const changed = new Map<string, HotlistChange>();
    const now = this.now().toISOString();
    this.deps.store.database.transaction(() => {
      const given = new Map(inputs.map((input) => [input.cardId, input.status]));
      if (whole)
        for (const { card_id } of this.sql.ofSource.all(source))
          if (!given.has(card_id)) given.set(card_id, 'active');
      for (const [cardId, status] of given) {
        const before = this.effective(cardId);
        if (revoked(status)) this.sql.put.run(cardId, source, status, now);
        else this.sql.remove.run(cardId, source);
        const after = this.effective(cardId);
        if (before !== after) changed.set(cardId, after ?? 'removed');
      }
    })();
    return changed;
  }

  private effective(cardId: string): HotlistStatus | undefined {
    let strongest: HotlistStatus | undefined;
    for (const { status } of this.sql.statuses.all(cardId))
      if (!strongest || RANK[status] > RANK[strongest]) strongest = status;
    return strongest;
  }

  /** Every card of the bridge's rosters that is lost, cancelled or suspended. */
  private rosterRevocations(): HotlistInput[] {
    const { store } = this.deps;
    return store.rosterSchools().flatMap((school) =>
      store
        .rosterCards(school)
        .map(rosterInput)
        .filter((card) => revoked(card.status)),
    );
  }

  private due(): boolean {
    const latest = this.sql.latest.get();
    const manifest = latest ? HotlistManifest.safeParse(JSON.parse(latest.manifest).signed) : undefined;
    return needsRenewal(manifest?.success ? manifest.data : undefined, {
      keySetVersion: this.deps.keys.version,
      nowMs: this.now().getTime(),
      ttlMs: this.ttlMs,
    });
  }

  private get ttlMs(): number {
    return this.deps.manifestTtlMs ?? DEFAULT_TTL_MS;
  }

  /**
   * Another instance sharing the store may have published since this one last did: the list in force
   * is the store's latest version, whoever signed it (and its hash key with it).
   */
  private catchUp(): void {
    const version = this.sql.latestVersion.get();
    if (version === null || version === undefined || Number(version) === this.table?.version) return;
    const latest = this.sql.latest.get();
    if (!latest?.body) return;
    this.table = HotlistTable.fromSnapshot(latest.body);
    this.hashKey = parseHotlistHeader(latest.body).hashKey;
  }

  /**
   * The next version: a delta of the `cards` changed from the list in force (the first, from every
   * entry), and its snapshot. Made under a lock across the instances sharing the store, on the latest
   * version, with each card's status as the store holds it then: two instances publishing at once
   * make two versions one after the other, the second with the other's changes too.
   */
  private async publish(cards: Iterable<string>): Promise<number> {
    const { keys, store } = this.deps;
    const db = store.database;
    const now = this.now();
    const sign = (body: Uint8Array): IssuedHotlist =>
      issueHotlist(body, {
        issuedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + this.ttlMs).toISOString(),
        keySetVersion: keys.version,
        signers: keys.signers,
      });
    const { version, table, delta } = db.transaction(() => {
      lockWithinTransaction(db, 'hotlist');
      this.catchUp();
      const previous = this.table;
      const version = (previous?.version ?? 0) + 1;
      let table: HotlistTable;
      let delta: IssuedHotlist | undefined;
      if (previous) {
        const entries = hotlistEntries(
          this.hashKey,
          [...new Set(cards)].map((cardNumber) => ({
            cardNumber,
            status: this.effective(cardNumber) ?? 'removed',
          })),
        );
        const body = encodeHotlist(
          { kind: 'delta', version, fromVersion: previous.version, hashKey: this.hashKey },
          entries,
        );
        table = previous.applyDelta(body);
        if (body.length <= MAX_DELTA_BYTES) delta = sign(body);
      } else {
        const all = new Map<string, HotlistStatus>();
        for (const { card_id, status } of this.sql.all.all()) {
          const held = all.get(card_id);
          if (!held || RANK[status] > RANK[held]) all.set(card_id, status);
        }
        const entries = hotlistEntries(
          this.hashKey,
          [...all].map(([cardNumber, status]) => ({ cardNumber, status })),
        );
        table = HotlistTable.fromSnapshot(
          encodeHotlist({ kind: 'snapshot', version, hashKey: this.hashKey }, entries),
        );
      }
      const snapshot = sign(table.toSnapshot());
      const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
      this.sql.insert.run(
        version,
        text(snapshot.manifest),
        snapshot.body,
        delta ? text(delta.manifest) : null,
        delta ? delta.body : null,
        now.toISOString(),
      );
      this.sql.prune.run(version - KEPT_BODIES);
      return { version, table, delta };
    })();
    this.table = table;
    this.deps.logger.info(
      { version, entries: table.size, delta: delta !== undefined },
      'hotlist version published',
    );
    await this.announce();
    return version;
  }

  /** The key sets, then the latest delta (when it has one), then the latest snapshot: all retained. */
  private async announce(): Promise<void> {
    const { client, keys } = this.deps;
    const latest = this.sql.latest.get();
    if (!latest) return;
    await announceKeySets(client, keys);
    if (latest.delta_manifest && latest.delta_body) {
      await client.publishAsync(
        topics.hotlistDelta(),
        JSON.stringify({
          v: SPEC_VERSION,
          manifest: JSON.parse(latest.delta_manifest),
          body: Buffer.from(latest.delta_body).toString('base64'),
        }),
        RETAINED,
      );
    }
    await this.announceSnapshot(latest);
  }

  private async announceSnapshot(latest: { version: number; manifest: string }): Promise<void> {
    await this.deps.client.publishAsync(
      topics.hotlistSnapshot(),
      JSON.stringify(this.snapshotMessage(latest)),
      RETAINED,
    );
  }

  /** The latest snapshot's message, its URL with a fresh grant: what a venue's sync answer carries. */
  currentMessage(): HotlistSnapshotMessage | undefined {
    const latest = this.sql.latest.get();
    return latest && this.snapshotMessage(latest);
  }

  private snapshotMessage(latest: { version: number; manifest: string }): HotlistSnapshotMessage {
    return {
      v: SPEC_VERSION,
      manifest: JSON.parse(latest.manifest),
      url: this.deps.grants.sign(hotlistPath(latest.version)),
    };
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}
