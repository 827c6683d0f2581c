import type {
  Calendar,
  CardEntry,
  RosterDelta,
  RosterManifest,
  RosterSnapshot,
  Schedule,
} from '@educard/terminal-sdk';
import { reject } from './errors.js';

/** What the tap path reads: lookups in memory, no disk, no network. */
export interface RosterView {
  readonly version: number;
  readonly school: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly calendar: Calendar;
  readonly size: number;
  byCardId(cardId: string): CardEntry | undefined;
  byUid(uid: string): CardEntry | undefined;
  /** The card a person uses: an active one when they hold several (a reissue leaves the old cancelled). */
  byPersonId(personId: string): CardEntry | undefined;
  schedule(id: string): Schedule | undefined;
}

function uidOf(card: CardEntry): string | undefined {
  return card.credential.uid;
}

/**
 * The roster in force, indexed by card id and by UID. A delta is checked against the whole index
 * before any of it is applied, so a bad delta leaves the index as it was.
 */
export class RosterIndex implements RosterView {
  private readonly cards = new Map<string, CardEntry>();
  private readonly uids = new Map<string, CardEntry>();
  private schedules = new Map<string, Schedule>();
  /**
   * Made on first use and dropped at every change: only a library desk or a computer room looks people
   * up, so a gate never holds this second map of a hundred thousand entries.
   */
  private people: Map<string, CardEntry> | undefined;
  version: number;
  readonly school: string;
  issuedAt: number;
  expiresAt: number;
  calendar: Calendar;

  constructor(snapshot: RosterSnapshot, manifest: RosterManifest) {
    this.version = snapshot.version;
    this.school = snapshot.school;
    this.issuedAt = Date.parse(manifest.issuedAt);
    this.expiresAt = Date.parse(manifest.expiresAt);
    this.calendar = snapshot.calendar;
    this.replaceSchedules(snapshot.schedules);
    for (const card of snapshot.cards) {
      if (this.cards.has(card.cardId))
        reject('inconsistent', `card ${card.cardId} appears twice in the snapshot`);
      this.insert(card);
    }
  }

  get size(): number {
    return this.cards.size;
  }

  byCardId(cardId: string): CardEntry | undefined {
    return this.cards.get(cardId);
  }

  byUid(uid: string): CardEntry | undefined {
    return this.uids.get(uid);
  }

  byPersonId(personId: string): CardEntry | undefined {
    if (!this.people) {
      this.people = new Map();
      for (const card of this.cards.values()) {
        const held = this.people.get(card.personId);
        if (!held || (held.status !== 'active' && card.status === 'active'))
          this.people.set(card.personId, card);
      }
    }
    return this.people.get(personId);
  }

  schedule(id: string): Schedule | undefined {
    return this.schedules.get(id);
  }

  *entries(): IterableIterator<CardEntry> {
    yield* this.cards.values();
  }

  /** Applies a delta that follows the version in force; all of it or, when it does not fit, none. */
  apply(delta: RosterDelta, manifest: RosterManifest): void {
    if (delta.fromVersion !== this.version) {
      reject(
        'out-of-order',
        `delta ${delta.fromVersion}→${delta.version} does not follow version ${this.version}`,
      );
    }
    this.check(delta);
    const next = delta.changes.map((change) => (change.op === 'revoke' ? this.revoked(change) : change.card));
    // Old UIDs go first, so that two cards may swap UIDs within one delta.
    for (const card of next) {
      const previous = this.cards.get(card.cardId);
      const oldUid = previous && uidOf(previous);
      if (oldUid !== undefined && this.uids.get(oldUid) === previous) this.uids.delete(oldUid);
    }
    for (const card of next) this.insert(card);
    this.people = undefined;
    if (delta.schedules) this.replaceSchedules(delta.schedules);
    if (delta.calendar) this.calendar = delta.calendar;
    this.version = delta.version;
    this.issuedAt = Date.parse(manifest.issuedAt);
    this.expiresAt = Date.parse(manifest.expiresAt);
  }

  /** Throws when the delta does not fit the index; changes nothing. */
  check(delta: RosterDelta): void {
    const touched = new Set<string>();
    const newUids = new Set<string>();
    const rewritten = new Set(delta.changes.flatMap((c) => (c.op === 'revoke' ? [] : [c.card.cardId])));
    for (const change of delta.changes) {
      const cardId = change.op === 'revoke' ? change.cardId : change.card.cardId;
      if (touched.has(cardId)) reject('inconsistent', `delta changes card ${cardId} twice`);
      touched.add(cardId);
      const exists = this.cards.has(cardId);
      if (change.op === 'add' && exists) reject('inconsistent', `delta adds card ${cardId}, which exists`);
      if (change.op !== 'add' && !exists)
        reject('inconsistent', `delta ${change.op}s card ${cardId}, which is unknown`);
      if (change.op !== 'revoke') {
        const uid = uidOf(change.card);
        if (uid !== undefined && newUids.has(uid))
          reject('inconsistent', `delta gives two cards the UID ${uid}`);
        if (uid !== undefined) newUids.add(uid);
        const holder = uid === undefined ? undefined : this.uids.get(uid);
        if (holder && holder.cardId !== cardId && !rewritten.has(holder.cardId)) {
          reject('inconsistent', `delta gives card ${cardId} the UID of card ${holder.cardId}`);
        }
      }
    }
  }

  /** A revoke carries the status only: a reason the card had (a transfer) is not the new status's. */
  private revoked(change: Extract<RosterDelta['changes'][number], { op: 'revoke' }>): CardEntry {
    const { statusReason: _reason, ...held } = this.cards.get(change.cardId) as CardEntry;
    return { ...held, status: change.status };
  }

  private insert(card: CardEntry): void {
    this.cards.set(card.cardId, card);
    const uid = uidOf(card);
    if (uid === undefined) return;
    const holder = this.uids.get(uid);
    if (holder && holder.cardId !== card.cardId)
      reject('inconsistent', `cards ${holder.cardId} and ${card.cardId} share a UID`);
    this.uids.set(uid, card);
  }

  private replaceSchedules(schedules: Schedule[]): void {
    this.schedules = new Map(schedules.map((s) => [s.id, s]));
  }
}
