import {
  type CatalogueItem,
  CatalogueManifest,
  type CatalogueRules,
  CatalogueSnapshot,
  type CatalogueSnapshotMessage,
  DEFAULT_LOAN_RULES,
  Identifier,
  issueCatalogue,
  SerialQueue,
  SPEC_VERSION,
  topics,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BodyGrants } from '../grants/index.js';
import { needsRenewal, RENEWAL_CHECK_MS, type RosterKeyring, renewalTimer } from '../roster/index.js';
import {
  type BadRowSink,
  type BridgeStore,
  type CatalogueVersion,
  eachRow,
  usableIds,
} from '../store/index.js';
import type { CatalogueImportReport, ItemProblem } from './types.js';

export interface CatalogueServiceDeps {
  store: BridgeStore;
  client: MqttClient;
  /** The roster's keyring: catalogues are signed by the same roster-signing keys. */
  keys: RosterKeyring;
  logger: Logger;
  /** How long a catalogue manifest stays valid; issued again once half of it has passed. */
  manifestTtlMs?: number;
  /** The clock catalogues are signed by (the bridge's). */
  now?: () => Date;
  /** How often to look for a catalogue to sign again (see needsRenewal). */
  renewalCheckMs?: number;
  /** Told of a stored catalogue it cannot announce or re-issue (a bad school id, a body that does not parse). */
  onBadRow: BadRowSink;
  /** Signs the body URL it announces: the body is served only with a live grant. */
  grants: BodyGrants;
}

export interface CatalogueImportInput {
  items: { line?: number; item: CatalogueItem }[];
  rules?: CatalogueRules;
  dryRun?: boolean;
}

const DEFAULT_TTL_MS = 365 * 86_400_000;
/** Titles `titlesOf` keeps over every school: some tens of megabytes. */
const TITLES_KEPT = 500_000;

/** The catalogue body's URL on the bridge. */
export const cataloguePath = (school: string, version: number) =>
  `/v1/catalogue/${school}/snapshots/${version}`;

/**
 * Each school's library catalogue and lending rules: imported whole, signed as a new version behind a
 * manifest (the roster's keys, the roster's way), stored, and published retained for gateways.
 */
export class CatalogueService {
  private readonly queue = new SerialQueue();
  private renewal: { stop(): void } | undefined;
  /** Each school's titles of the version in force, least recently read first (`titlesOf`). */
  private readonly titles = new Map<string, { version: number; titles: Map<string, string> }>();

  constructor(private readonly deps: CatalogueServiceDeps) {}

  /**
   * Publishes every school's latest catalogue again (a broker may have forgotten retained messages),
   * re-issuing first one signed under an older key set or past half its validity; then does so on a
   * timer, which also keeps the grant in each announced URL fresh.
   */
  async start(): Promise<void> {
    const renew = () => this.queue.run(() => this.refreshEach(true));
    await renew();
    this.renewal = renewalTimer(renew, {
      everyMs: this.deps.renewalCheckMs ?? RENEWAL_CHECK_MS,
      logger: this.deps.logger,
      what: 'catalogue renewal',
    });
  }

  stop(): void {
    this.renewal?.stop();
  }

  /** Every catalogue signed under an older key set (after a key rotation) or past half its validity, issued again. */
  reissueStale(): Promise<{ school: string; version: number }[]> {
    return this.queue.run(() => this.refreshEach(false));
  }

  /** Refreshes every school's catalogue; a stored one it cannot use is told to `onBadRow` and skipped. */
  private async refreshEach(announce: boolean): Promise<{ school: string; version: number }[]> {
    const { store, onBadRow } = this.deps;
    const reissued: { school: string; version: number }[] = [];
    const schools = usableIds(store.catalogueSchools(), 'catalogue version', onBadRow);
    await eachRow(
      schools,
      'catalogue version',
      (school) => school,
      onBadRow,
      async (school) => {
        const version = await this.refresh(school, announce);
        if (version !== undefined) reissued.push({ school, version });
      },
    );
    return reissued;
  }

  /** The catalogue in force for a school, parsed. */
  current(school: string): CatalogueSnapshot | undefined {
    const latest = this.deps.store.latestCatalogue(school);
    return latest ? parseBody(latest) : undefined;
  }

  /**
   * The titles of a school's catalogue in force, by item id: parsed once per version and kept for the
   * schools read most recently, up to TITLES_KEPT titles in all. The library pages ask every minute;
   * parsing a whole catalogue each time would cost a district's bridge a core.
   */
  titlesOf(school: string): (itemId: string) => string | undefined {
    const version = this.deps.store.latestCatalogueVersion(school);
    if (version === undefined) return () => undefined;
    let held = this.titles.get(school);
    if (held?.version !== version) {
      const items = this.current(school)?.items ?? [];
      held = { version, titles: new Map(items.map((item) => [item.itemId, item.title])) };
    }
    // Most recently read last: the oldest go first once the titles kept pass the bound.
    this.titles.delete(school);
    this.titles.set(school, held);
    let kept = 0;
    for (const entry of this.titles.values()) kept += entry.titles.size;
    for (const [oldest, entry] of this.titles) {
      if (kept <= TITLES_KEPT || oldest === school) break;
      this.titles.delete(oldest);
      kept -= entry.titles.size;
    }
    const { titles } = held;
    return (itemId) => titles.get(itemId);
  }

  /**
   * Replaces a school's catalogue with the items given (and its rules, when given): every item checked,
   * no item id twice; all or nothing. Items no longer listed leave the catalogue.
   */
  importCatalogue(school: string, input: CatalogueImportInput): Promise<CatalogueImportReport> {
    return this.queue.run(async () => {
      const problems: ItemProblem[] = [];
      const seen = new Map<string, number>();
      for (const { line = 0, item } of input.items) {
        const first = seen.get(item.itemId);
        if (first !== undefined)
          problems.push({ line, itemId: item.itemId, problem: `item id repeats line ${first}` });
        else seen.set(item.itemId, line);
      }
      const held = this.current(school);
      const before = new Map((held?.items ?? []).map((item) => [item.itemId, JSON.stringify(item)]));
      let added = 0;
      let updated = 0;
      let unchanged = 0;
      for (const { item } of input.items) {
        const was = before.get(item.itemId);
        if (was === undefined) added += 1;
        else if (was === JSON.stringify(item)) unchanged += 1;
        else updated += 1;
      }
      const removed = [...before.keys()].filter((id) => !seen.has(id)).length;
      const rules = input.rules ?? held?.rules ?? DEFAULT_LOAN_RULES;
      const rulesChanged = JSON.stringify(rules) !== JSON.stringify(held?.rules ?? DEFAULT_LOAN_RULES);
      const report: CatalogueImportReport = {
        ok: problems.length === 0,
        dryRun: input.dryRun ?? false,
        added,
        updated,
        removed,
        unchanged,
        rulesChanged,
        problems,
      };
      const changed = added + updated + removed > 0 || rulesChanged || !held;
      if (!report.ok || report.dryRun || !changed) return report;
      const items = [...new Map(input.items.map(({ item }) => [item.itemId, item])).values()];
      const version = await this.publish(school, rules, items);
      return { ...report, version };
    });
  }

  /** Sets a school's lending rules: a new version of its catalogue, items unchanged. */
  setRules(school: string, rules: CatalogueRules): Promise<{ version: number; changed: boolean }> {
    return this.queue.run(async () => {
      const held = this.current(school);
      if (held && JSON.stringify(held.rules) === JSON.stringify(rules))
        return { version: held.version, changed: false };
      return { version: await this.publish(school, rules, held?.items ?? []), changed: true };
    });
  }

  /** Re-issues a school's catalogue when its signature needs renewal; otherwise may announce it again. */
  private async refresh(school: string, announce: boolean): Promise<number | undefined> {
    const latest = this.deps.store.latestCatalogue(school);
    if (!latest) return undefined;
    const manifest = CatalogueManifest.safeParse(JSON.parse(latest.manifest).signed);
    const due = needsRenewal(manifest.success ? manifest.data : undefined, {
      keySetVersion: this.deps.keys.version,
      nowMs: this.now().getTime(),
      ttlMs: this.deps.manifestTtlMs ?? DEFAULT_TTL_MS,
    });
    if (!due) {
      if (announce) await this.announce(latest);
      return undefined;
    }
    const body = parseBody(latest);
    return this.publish(school, body.rules, body.items);
  }

  private async publish(school: string, rules: CatalogueRules, items: CatalogueItem[]): Promise<number> {
    const { store, keys, logger } = this.deps;
    // Checked before anything is committed: a version that could never be announced is never made.
    if (!Identifier.safeParse(school).success)
      throw new Error(`school ${JSON.stringify(school.slice(0, 80))} is not an identifier`);
    const version = (store.latestCatalogue(school)?.version ?? 0) + 1;
    const now = this.now();
    const body: CatalogueSnapshot = {
      kind: 'catalogue',
      school,
      version,
      issuedAt: now.toISOString(),
      rules,
      items: [...items].sort((a, b) => (a.itemId < b.itemId ? -1 : a.itemId > b.itemId ? 1 : 0)),
    };
    const issued = issueCatalogue(body, {
      expiresAt: new Date(now.getTime() + (this.deps.manifestTtlMs ?? DEFAULT_TTL_MS)).toISOString(),
      keySetVersion: keys.version,
      signers: keys.signers,
    });
    const record: CatalogueVersion = {
      school,
      version,
      manifest: Buffer.from(issued.manifest).toString('utf8'),
      body: issued.body,
      createdAt: body.issuedAt,
    };
    store.commitCatalogue(record);
    logger.info({ school, version, items: items.length }, 'catalogue version published');
    await this.announce(record);
    return version;
  }

  /** The message of a school's latest catalogue, as its topic carries it: what a device that asks in its birth is sent. */
  currentMessage(school: string): CatalogueSnapshotMessage | undefined {
    const latest = this.deps.store.latestCatalogue(school);
    return latest ? this.messageOf(latest) : undefined;
  }

  /** A catalogue version's message, its URL with a fresh grant (a device of the school fetches the body with it). */
  private messageOf(version: CatalogueVersion): CatalogueSnapshotMessage {
    return {
      v: SPEC_VERSION,
      manifest: JSON.parse(version.manifest),
      url: this.deps.grants.sign(cataloguePath(version.school, version.version)),
    };
  }

  private async announce(version: CatalogueVersion): Promise<void> {
    await this.deps.client.publishAsync(
      topics.catalogueSnapshot(version.school),
      JSON.stringify(this.messageOf(version)),
      { qos: 1, retain: true },
    );
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }
}

function parseBody(version: CatalogueVersion): CatalogueSnapshot {
  return CatalogueSnapshot.parse(JSON.parse(Buffer.from(version.body).toString('utf8')));
}
