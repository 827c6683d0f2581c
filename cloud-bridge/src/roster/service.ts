import {
  type Calendar,
  type CardEntry,
  CardEntry as CardEntrySchema,
  type Credential,
  canonicalString,
  describeIssues,
  type EnrollmentProof,
  Identifier,
  type IssuedRoster,
  issueRoster,
  type KeyRole,
  type RosterChange,
  type RosterDelta,
  RosterManifest,
  type RosterSnapshot,
  type RosterSnapshotMessage,
  type RosterVariant,
  type Schedule,
  SerialQueue,
  type SignedEnvelope,
  signEnrollmentProof,
} from '@educard/terminal-sdk';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { BodyGrants } from '../grants/index.js';
import {
  type BadRowSink,
  type BridgeStore,
  eachRow,
  type RosterCommit,
  type RosterSettings,
  type RosterVersion,
  usableIds,
} from '../store/index.js';
import { RosterAnnouncer, type RosterMessages } from './announce.js';
import type { RowProblem } from './csv.js';
import type { RosterKeyring } from './keys.js';
import { needsRenewal, RENEWAL_CHECK_MS, renewalTimer } from './renewal.js';

export interface RosterServiceDeps {
  store: BridgeStore;
  client: MqttClient;
  keys: RosterKeyring;
  logger: Logger;
  /** How long a manifest stays valid: a gateway that hears nothing for longer knows its roster is stale. */
  manifestTtlMs?: number;
  /** Told of a stored version it cannot announce (a school id that is no identifier, a manifest that does not parse). */
  onBadRow: BadRowSink;
  /** Signs the snapshot URL it announces: the body is served only with a live grant. */
  grants: BodyGrants;
  /** The clock versions are signed by (the bridge's). */
  now?: () => Date;
  /**
   * Told of each version once it is stored, with the cards it changed (operations checks its dates, the
   * hotlist takes the revocations); must not throw.
   */
  onPublished?: (school: string, version: number, changed: readonly CardEntry[]) => void;
  /** How often to look for a roster past half its validity, to sign it again (see needsRenewal). */
  renewalCheckMs?: number;
}

export interface ImportInput {
  cards: { line?: number; card: CardEntry }[];
  calendar?: Calendar;
  schedules?: Schedule[];
  dryRun?: boolean;
}

export interface ImportReport {
  ok: boolean;
  dryRun: boolean;
  version?: number;
  added: number;
  updated: number;
  revoked: number;
  unchanged: number;
  problems: RowProblem[];
}

/** The cards (and settings) of one school that changed elsewhere: see RosterService.applyChanges. */
export interface SchoolChanges {
  school: string;
  cards: CardEntry[];
  settings?: Partial<RosterSettings>;
}

/** What a reissue may give instead of a whole card: the rest is the old card's, made active. */
export interface ReissueAs {
  newCardId: string;
  credential: Credential;
  validUntil?: string;
}

function reissuedCard(old: CardEntry, as: ReissueAs): CardEntry {
  return {
    ...old,
    cardId: as.newCardId,
    credential: as.credential,
    status: 'active',
    ...(as.validUntil ? { validUntil: as.validUntil } : {}),
  };
}

export class RosterChangeRefused extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'RosterChangeRefused';
  }
}

/** A school's calendar and schedules until it imports its own: no day off, no schedule. */
export const DEFAULT_SETTINGS: RosterSettings = {
  calendar: { timeZone: 'Asia/Shanghai', holidays: [], closures: [], makeUpDays: [] },
  schedules: [],
};

/**
 * What one new version of a school's roster changes: `changed` are the cards as they become (the
 * delta's `changes` say how), `settings` new calendar and schedules, `forgotten` cards taken off
 * (a snapshot alone then: a delta cannot say so).
 */
interface RosterEdit {
  changes: RosterChange[];
  changed: CardEntry[];
  settings?: RosterSettings | undefined;
  forgotten?: string[];
}

/** A version that changes nothing but is signed again (a manifest near its expiry, a new key set). */
const RESIGN: RosterEdit = { changes: [], changed: [] };

/**
 * Holds each school's roster, signs what changes as a new version (a delta from the last and a full
 * snapshot, each behind a small signed manifest), stores it, and publishes it retained, so a card
 * reported lost reaches every connected gate in well under a second.
 */
export class RosterService {
  private readonly queue = new SerialQueue();
  private renewal: { stop(): void } | undefined;
  private readonly announcer: RosterAnnouncer;

  constructor(private readonly deps: RosterServiceDeps) {
    this.announcer = new RosterAnnouncer(deps);
  }

  /** The root key role of the first key set: what a device pins as its trust anchor. */
  anchor(): KeyRole {
    return this.deps.keys.anchor;
  }

  get keys(): RosterKeyring {
    return this.deps.keys;
  }

  /**
   * Publishes every school's latest version again (a broker without persistence forgets retained
   * messages), renewing first those that need it (see renew), and from then on renews on a timer.
   */
  async start(): Promise<void> {
    await this.renew({ announceOthers: true });
    this.renewal = renewalTimer(() => this.renew(), {
      everyMs: this.deps.renewalCheckMs ?? RENEWAL_CHECK_MS,
      logger: this.deps.logger,
      what: 'roster renewal',
    });
  }

  stop(): void {
    this.renewal?.stop();
  }

  /**
   * Issues again, as a new version with no change, each school's roster whose manifest is past half
   * its validity or was signed under an older key set (the bridge stopped between a key rotation and
   * the re-issue that follows it): a school where no card changed for a week would otherwise find
   * every pupil refused at its gates as the manifest expires. Every other school's snapshot is
   * announced again, with all its messages at start (`announceOthers`), else its URL with a fresh
   * grant, so a gateway that connects later can still fetch it. A stored version it cannot use is told
   * to `onBadRow` and skipped.
   */
  renew(options: { announceOthers?: boolean } = {}): Promise<{ school: string; version: number }[]> {
    const { store, onBadRow } = this.deps;
    return this.queue.run(async () => {
      const renewed: { school: string; version: number }[] = [];
      const nowMs = (this.deps.now?.() ?? new Date()).getTime();
      const schools = usableIds(store.rosterSchools(), 'roster version', onBadRow);
      await eachRow(
        schools,
        'roster version',
        (school) => school,
        onBadRow,
        async (school) => {
          const latest = store.latestRosterVersion(school);
          if (!latest) return;
          const signed = RosterManifest.safeParse(JSON.parse(latest.snapshotManifest).signed);
          const due = needsRenewal(signed.success ? signed.data : undefined, {
            keySetVersion: this.deps.keys.version,
            nowMs,
            ttlMs: this.manifestTtlMs,
          });
          if (due) {
            const version = await this.publish(school, RESIGN);
            this.deps.logger.info({ school, version }, 'roster signed again before its manifest expires');
            renewed.push({ school, version });
          } else if (options.announceOthers) await this.announcer.announce(latest);
          // Each round, the snapshot's URL again with a fresh grant: one heard later can still be fetched.
          else await this.announcer.announceSnapshot(latest);
        },
      );
      return renewed;
    });
  }

  private get manifestTtlMs(): number {
    return this.deps.manifestTtlMs ?? 7 * 86_400_000;
  }

  /**
   * The answer to an enrollment: every key set, and a proof signed by the current roster key, taken
   * together so that a rotation cannot fall between them.
   */
  signEnrollment(proof: Omit<EnrollmentProof, 'type' | 'spec'>): {
    keySets: SignedEnvelope<unknown>[];
    proof: SignedEnvelope<EnrollmentProof>;
  } {
    const { keys } = this.deps;
    return {
      keySets: keys.keySets.map((k) => JSON.parse(k) as SignedEnvelope<unknown>),
      proof: signEnrollmentProof(proof, keys.signers),
    };
  }

  /** The unsigned next key set, for the root key holder to sign (see RosterKeyring). */
  prepareRotation(
    options: { cardIssuers?: KeyRole | null } = {},
  ): ReturnType<RosterKeyring['prepareRotation']> {
    return this.queue.run(async () => this.deps.keys.prepareRotation(options));
  }

  /**
   * Takes the signed next key set and re-issues every school's roster as a new version signed with
   * the new roster key, published after the key sets, so gateways move over without a visit.
   */
  commitKeySet(
    pendingId: string,
    envelope: unknown,
  ): Promise<
    Awaited<ReturnType<RosterKeyring['commitKeySet']>> & { reissued: { school: string; version: number }[] }
  > {
    return this.queue.run(async () => {
      const committed = await this.deps.keys.commitKeySet(pendingId, envelope);
      this.deps.logger.info(committed, 'roster key rotated');
      const reissued: { school: string; version: number }[] = [];
      const { store, onBadRow } = this.deps;
      await eachRow(
        usableIds(store.rosterSchools(), 'roster version', onBadRow),
        'roster version',
        (school) => school,
        onBadRow,
        async (school) => reissued.push({ school, version: await this.publish(school, RESIGN) }),
      );
      return { ...committed, reissued };
    });
  }

  /**
   * Replaces a school's roster with the cards given: validated as a whole (every card of this school,
   * no card id or UID twice), all or nothing. Cards no longer listed are revoked as cancelled.
   */
  importRoster(school: string, input: ImportInput): Promise<ImportReport> {
    return this.queue.run(async () => {
      const problems: RowProblem[] = [];
      const seenIds = new Map<string, number>();
      const seenUids = new Map<string, string>();
      for (const { line = 0, card } of input.cards) {
        if (card.school !== school)
          problems.push({ line, cardId: card.cardId, problem: `school ${card.school} is not ${school}` });
        const first = seenIds.get(card.cardId);
        if (first !== undefined)
          problems.push({ line, cardId: card.cardId, problem: `card id repeats line ${first}` });
        else seenIds.set(card.cardId, line);
        const uid = card.credential.uid;
        if (uid !== undefined) {
          const holder = seenUids.get(uid);
          if (holder && holder !== card.cardId)
            problems.push({ line, cardId: card.cardId, problem: `UID ${uid} is also card ${holder}'s` });
          else seenUids.set(uid, card.cardId);
        }
        const elsewhere = this.deps.store.findCard(card.cardId);
        if (elsewhere && elsewhere.school !== school) {
          problems.push({
            line,
            cardId: card.cardId,
            problem: `card is on the roster of school ${elsewhere.school}`,
          });
        }
      }
      const current = new Map(this.deps.store.rosterCards(school).map((c) => [c.cardId, c]));
      const changes: RosterChange[] = [];
      const changed: CardEntry[] = [];
      let unchanged = 0;
      for (const { card } of input.cards) {
        const held = current.get(card.cardId);
        if (!held) changes.push({ op: 'add', card });
        else if (JSON.stringify(held) !== JSON.stringify(card)) changes.push({ op: 'update', card });
        else {
          unchanged += 1;
          continue;
        }
        changed.push(card);
      }
      for (const held of current.values()) {
        if (!seenIds.has(held.cardId) && held.status !== 'cancelled') {
          changes.push({ op: 'revoke', cardId: held.cardId, status: 'cancelled' });
          changed.push({ ...held, status: 'cancelled' });
        }
      }
      const count = (op: RosterChange['op']) => changes.filter((c) => c.op === op).length;
      const report: ImportReport = {
        ok: problems.length === 0,
        dryRun: input.dryRun ?? false,
        added: count('add'),
        updated: count('update'),
        revoked: count('revoke'),
        unchanged,
        problems,
      };
      const settings = input.calendar || input.schedules ? this.settingsWith(school, input) : undefined;
      if (
        !report.ok ||
        report.dryRun ||
        (changes.length === 0 && !settings && this.deps.store.latestRosterVersion(school))
      )
        return report;
      const version = await this.publish(school, { changes, changed, settings });
      return { ...report, version };
    });
  }

  /**
   * Cards added or changed elsewhere (the central system's change feed, a pupil's transfer), per
   * school, with the school's settings when given: ONE new version for each school whose roster they
   * change, so gateways never see part of it, and every school's version committed in ONE transaction
   * together with `alongside` (the caller's own writes, run inside it and told the versions), then
   * published. Cards not given
   * stay as they are. Nothing different from what is held publishes nothing, so applying the same
   * changes again is harmless; `alongside` runs either way.
   */
  applyChanges(
    schools: SchoolChanges[],
    alongside?: (versions: { school: string; version: number }[]) => void,
  ): Promise<{ school: string; version: number }[]> {
    return this.queue.run(async () => {
      const commits = schools.flatMap(({ school, cards, settings }) => {
        const change = this.changesOf(school, cards, settings);
        return change ? [this.issue(school, change)] : [];
      });
      const versions = commits.map((commit) => ({ school: commit.school, version: commit.version.version }));
      this.deps.store.commitRosters(commits, () => alongside?.(versions));
      // Each school's messages in their order; the schools side by side (a transfer reaches both).
      await Promise.all(commits.map((commit) => this.published(commit)));
      return versions;
    });
  }

  /** What the cards and settings given change of a school's roster, or undefined when nothing. */
  private changesOf(
    school: string,
    cards: CardEntry[],
    settings: Partial<RosterSettings> | undefined,
  ): RosterEdit | undefined {
    const { store } = this.deps;
    const current = new Map(store.rosterCards(school).map((c) => [c.cardId, c]));
    const changes: RosterChange[] = [];
    const changed = new Map<string, CardEntry>();
    for (const card of cards) {
      if (card.school !== school)
        throw new RosterChangeRefused(400, `card ${card.cardId} is of school ${card.school}, not ${school}`);
      const held = changed.get(card.cardId) ?? current.get(card.cardId);
      if (held && canonicalString(held) === canonicalString(card)) continue;
      changes.push({ op: current.has(card.cardId) ? 'update' : 'add', card });
      changed.set(card.cardId, card);
    }
    const heldSettings = store.rosterSettings(school);
    const merged = settings
      ? {
          calendar: settings.calendar ?? (heldSettings ?? DEFAULT_SETTINGS).calendar,
          schedules: settings.schedules ?? (heldSettings ?? DEFAULT_SETTINGS).schedules,
        }
      : undefined;
    const newSettings =
      merged && (!heldSettings || canonicalString(merged) !== canonicalString(heldSettings))
        ? merged
        : undefined;
    if (changes.length === 0 && !newSettings) return undefined;
    return { changes, changed: [...changed.values()], ...(newSettings ? { settings: newSettings } : {}) };
  }

  /** Reports a card lost, cancels or suspends it, or makes it active again: one delta, published at once. */
  setStatus(cardId: string, status: CardEntry['status']): Promise<number> {
    return this.queue.run(async () => {
      const card = this.deps.store.findCard(cardId);
      if (!card) throw new RosterChangeRefused(404, `no card ${cardId} on any roster`);
      if (card.status === status) throw new RosterChangeRefused(409, `card ${cardId} is already ${status}`);
      const updated = { ...card, status };
      const change: RosterChange =
        status === 'active' ? { op: 'update', card: updated } : { op: 'revoke', cardId, status };
      return this.publish(card.school, { changes: [change], changed: [updated] });
    });
  }

  /**
   * A new card for the same person: the old one cancelled and the new one active in the same delta.
   * `next` is the whole new card, or what differs from the old one (the new id and credential, and
   * optionally a new end of validity): what a technician holding the new card can type.
   */
  reissue(oldCardId: string, next: CardEntry | ReissueAs): Promise<{ card: CardEntry; version: number }> {
    return this.queue.run(async () => {
      const { store } = this.deps;
      const old = store.findCard(oldCardId);
      if (!old) throw new RosterChangeRefused(404, `no card ${oldCardId} on any roster`);
      const built = 'newCardId' in next ? CardEntrySchema.safeParse(reissuedCard(old, next)) : undefined;
      if (built && !built.success) throw new RosterChangeRefused(400, describeIssues(built.error));
      const card = built ? (built.data as CardEntry) : (next as CardEntry);
      if (store.findCard(card.cardId))
        throw new RosterChangeRefused(409, `card ${card.cardId} already exists`);
      if (card.school !== old.school || card.personId !== old.personId) {
        throw new RosterChangeRefused(409, 'a reissued card must be for the same person and school');
      }
      const uid = card.credential.uid;
      const holder =
        uid === undefined ? undefined : store.rosterCards(old.school).find((c) => c.credential.uid === uid);
      if (holder) {
        throw new RosterChangeRefused(
          409,
          `UID ${uid} is card ${holder.cardId}'s: the new card must have its own UID`,
        );
      }
      const version = await this.publish(old.school, {
        changes: [
          { op: 'revoke', cardId: oldCardId, status: 'cancelled' },
          { op: 'add', card },
        ],
        changed: [{ ...old, status: 'cancelled' }, card],
      });
      return { card, version };
    });
  }

  /**
   * Takes cards off their schools' rosters (an anonymised leaver's, cancelled long since): ONE new
   * version per school, a snapshot without a delta, since the roster contract has no removal: every
   * gateway, of any version, takes the snapshot whole and the cards are gone from it. The school's
   * older versions, which still hold them, are dropped with it.
   */
  forgetCards(cards: { cardId: string; school: string }[]): Promise<{ school: string; version: number }[]> {
    return this.queue.run(async () => {
      const bySchool = new Map<string, string[]>();
      for (const { cardId, school } of cards) bySchool.set(school, [...(bySchool.get(school) ?? []), cardId]);
      const commits = [...bySchool].map(([school, cardIds]) =>
        this.issue(school, { ...RESIGN, forgotten: cardIds }),
      );
      this.deps.store.commitRosters(commits);
      for (const commit of commits) await this.published(commit);
      return commits.map((commit) => ({ school: commit.school, version: commit.version.version }));
    });
  }

  private settingsWith(school: string, input: ImportInput): RosterSettings {
    const held = this.deps.store.rosterSettings(school) ?? DEFAULT_SETTINGS;
    return { calendar: input.calendar ?? held.calendar, schedules: input.schedules ?? held.schedules };
  }

  /** Signs, commits and publishes one school's next version. */
  private async publish(school: string, edit: RosterEdit): Promise<number> {
    const commit = this.issue(school, edit);
    this.deps.store.commitRosters([commit]);
    await this.published(commit);
    return commit.version.version;
  }

  private async published(commit: RosterCommit): Promise<void> {
    this.deps.logger.info(
      { school: commit.school, version: commit.version.version, changes: commit.cards.length },
      'roster version published',
    );
    this.deps.onPublished?.(commit.school, commit.version.version, commit.cards);
    await this.announcer.announce(commit.version);
  }

  /**
   * A school's next version, signed: the delta from the one before and the whole snapshot; the
   * snapshot alone when it forgets cards (a delta cannot say so).
   */
  private issue(school: string, { changes, changed, settings, forgotten = [] }: RosterEdit): RosterCommit {
    const { store, keys } = this.deps;
    // Checked before anything is committed: a version that could never be announced is never made.
    if (!Identifier.safeParse(school).success)
      throw new RosterChangeRefused(
        400,
        `school ${JSON.stringify(school.slice(0, 80))} is not an identifier`,
      );
    const previous = store.latestRosterVersion(school);
    const version = (previous?.version ?? 0) + 1;
    const now = this.deps.now?.() ?? new Date();
    const issuedAt = now.toISOString();
    const effective = settings ?? store.rosterSettings(school) ?? DEFAULT_SETTINGS;
    const byId = new Map(store.rosterCards(school).map((c) => [c.cardId, c]));
    for (const card of changed) byId.set(card.cardId, card);
    for (const cardId of forgotten) byId.delete(cardId);
    const snapshotBody: RosterSnapshot = {
      kind: 'snapshot',
      school,
      version,
      issuedAt,
      calendar: effective.calendar,
      schedules: effective.schedules,
      cards: [...byId.values()],
    };
    const sign = (body: RosterSnapshot | RosterDelta): IssuedRoster =>
      issueRoster(body, {
        expiresAt: new Date(now.getTime() + this.manifestTtlMs).toISOString(),
        keySetVersion: keys.version,
        signers: keys.signers,
        // The whole roster is the desk's; the gate's is made from it as it is announced.
        variant: 'desk',
      });
    const snapshot = sign(snapshotBody);
    const delta =
      previous && forgotten.length === 0
        ? sign({
            kind: 'delta',
            school,
            fromVersion: previous.version,
            version,
            issuedAt,
            changes,
            ...(settings ? { calendar: settings.calendar, schedules: settings.schedules } : {}),
          })
        : undefined;
    const record: RosterVersion = {
      school,
      version,
      snapshotManifest: Buffer.from(snapshot.manifest).toString('utf8'),
      snapshotBody: snapshot.body,
      ...(delta
        ? { deltaManifest: Buffer.from(delta.manifest).toString('utf8'), deltaBody: delta.body }
        : {}),
      createdAt: issuedAt,
    };
    return { school, cards: changed, settings, version: record, ...(forgotten.length ? { forgotten } : {}) };
  }

  /** The messages of a school's latest version of a variant, as a device that asks in its birth is sent them. */
  currentMessages(school: string, variant?: RosterVariant): RosterMessages | undefined {
    return this.announcer.currentMessages(school, variant);
  }

  /**
   * The latest snapshot of a school as its retained message says it, with a fresh grant: what a
   * device asks for over HTTP when it cannot wait for the broker (its stored roster was damaged).
   */
  latestSnapshot(school: string, variant?: RosterVariant): RosterSnapshotMessage | undefined {
    return this.currentMessages(school, variant)?.snapshot;
  }

  /** A snapshot body of a variant, as its manifest names it: what the snapshot routes serve. */
  snapshotBody(school: string, version: number, variant: RosterVariant): Uint8Array | undefined {
    return this.announcer.snapshotBody(school, version, variant);
  }
}
