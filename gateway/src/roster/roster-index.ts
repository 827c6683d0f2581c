import {
  type Calendar,
  type CardEntry,
  hashUid,
  type RosterDelta,
  type RosterManifest,
  type RosterSnapshot,
  type Schedule,
  uidKeyOf,
} from '@educard/terminal-sdk';
import { CardTable, type RowLookup } from './card-table.js';
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
  /** The card of a UID as the reader reads it (hashed first where the roster holds UIDs hashed). */
  byUid(uid: string): CardEntry | undefined;
  /** The card a person uses: an active one when they hold several (a reissue leaves the old cancelled). */
  byPersonId(personId: string): CardEntry | undefined;
  schedule(id: string): Schedule | undefined;
}

/** A snapshot whose cards may come one at a time (as verifyBody gives them), not all in one array. */
export type SnapshotCards = Omit<RosterSnapshot, 'cards'> & {
  cards: Iterable<CardEntry>;
  /** How many cards there are (the index is sized once); an array's length when absent. */
  cardCount?: number;
};

function uidOf(card: CardEntry): string | undefined {
  return card.credential.uid;
}

/** Prefers an active card: a reissue leaves the person's old card cancelled beside the new one. */
function better(held: CardEntry | undefined, card: CardEntry): boolean {
  return !held || (held.status !== 'active' && card.status === 'active');
}

/**
 * The roster in force: the snapshot packed in a CardTable, and the cards deltas changed since, kept as
 * objects beside it until there are enough of them to pack the whole roster again. A delta is checked
 * against the whole roster before any of it is applied, so a bad delta leaves the index as it was.
 */
export class RosterIndex implements RosterView {
  private table: CardTable;
  /** Rows of the table that a delta replaced: their card is in `changed` now. */
  private replaced: Uint8Array;
  private changed = new Map<string, CardEntry>();
  private changedUids = new Map<string, CardEntry>();
  /** Cards in `changed` that the table does not hold: the deltas added them. */
  private added = 0;
  private schedules = new Map<string, Schedule>();
  /**
   * Made on first use and dropped at every change: only a library desk or a computer room looks people
   * up, so a gate never holds it.
   */
  private people: { rows: RowLookup; changed: Map<string, CardEntry> } | undefined;
  version: number;
  readonly school: string;
  issuedAt: number;
  expiresAt: number;
  calendar: Calendar;
  /** The key UIDs are hashed under on a gate (RosterSnapshot.uidKey); UIDs are held in clear without it. */
  private readonly uidKey: Uint8Array | undefined;

  constructor(snapshot: SnapshotCards, manifest: RosterManifest) {
    this.uidKey = uidKeyOf(snapshot);
    this.version = snapshot.version;
    this.school = snapshot.school;
    this.issuedAt = Date.parse(manifest.issuedAt);
    this.expiresAt = Date.parse(manifest.expiresAt);
    this.calendar = snapshot.calendar;
    this.replaceSchedules(snapshot.schedules);
    this.table = CardTable.build(
      snapshot.cards,
      snapshot.cardCount ?? (snapshot.cards as CardEntry[]).length,
    );
    this.replaced = new Uint8Array(this.table.rows);
  }

  get size(): number {
    return this.table.rows + this.added;
  }

  byCardId(cardId: string): CardEntry | undefined {
    const changed = this.changed.get(cardId);
    if (changed) return changed;
    const row = this.table.rowOfCard(cardId);
    return row < 0 || this.replaced[row] ? undefined : this.table.entry(row);
  }

  byUid(uid: string): CardEntry | undefined {
    return this.holderOf(this.uidKey ? hashUid(this.uidKey, uid) : uid);
  }

  /** The card holding a UID as the roster writes it (hashed on a gate). */
  private holderOf(uid: string): CardEntry | undefined {
    const changed = this.changedUids.get(uid);
    if (changed) return changed;
    const row = this.table.rowOfUid(uid);
    return row < 0 || this.replaced[row] ? undefined : this.table.entry(row);
  }

  byPersonId(personId: string): CardEntry | undefined {
    const people = this.people ?? this.indexPeople();
    const row = people.rows.find(personId);
    let found = row < 0 ? undefined : this.table.entry(row);
    const changed = people.changed.get(personId);
    if (changed && better(found, changed)) found = changed;
    return found;
  }

  schedule(id: string): Schedule | undefined {
    return this.schedules.get(id);
  }

  *entries(): IterableIterator<CardEntry> {
    for (let row = 0; row < this.table.rows; row++) if (!this.replaced[row]) yield this.table.entry(row);
    yield* this.changed.values();
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
      const previous = this.changed.get(card.cardId);
      const oldUid = previous && uidOf(previous);
      if (oldUid !== undefined && this.changedUids.get(oldUid) === previous) this.changedUids.delete(oldUid);
      const row = this.table.rowOfCard(card.cardId);
      if (row >= 0) this.replaced[row] = 1;
      else if (!previous) this.added++;
    }
    for (const card of next) this.insert(card);
    this.people = undefined;
    if (delta.schedules) this.replaceSchedules(delta.schedules);
    if (delta.calendar) this.calendar = delta.calendar;
    this.version = delta.version;
    this.issuedAt = Date.parse(manifest.issuedAt);
    this.expiresAt = Date.parse(manifest.expiresAt);
    // Packing 100,000 cards again costs a few hundred milliseconds: worth it once changes pile up.
    if (this.changed.size > Math.max(4096, this.table.rows / 8)) this.pack();
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
      const exists = this.has(cardId);
      if (change.op === 'add' && exists) reject('inconsistent', `delta adds card ${cardId}, which exists`);
      if (change.op !== 'add' && !exists)
        reject('inconsistent', `delta ${change.op}s card ${cardId}, which is unknown`);
      if (change.op !== 'revoke') {
        const uid = uidOf(change.card);
        if (uid !== undefined && newUids.has(uid))
          reject('inconsistent', `delta gives two cards the UID ${uid}`);
        if (uid !== undefined) newUids.add(uid);
        const holder = uid === undefined ? undefined : this.holderOf(uid);
        if (holder && holder.cardId !== cardId && !rewritten.has(holder.cardId)) {
          reject('inconsistent', `delta gives card ${cardId} the UID of card ${holder.cardId}`);
        }
      }
    }
  }

  private has(cardId: string): boolean {
    if (this.changed.has(cardId)) return true;
    return this.table.rowOfCard(cardId) >= 0;
  }

  /** A revoke carries the status only: a reason the card had (a transfer) is not the new status's. */
  private revoked(change: Extract<RosterDelta['changes'][number], { op: 'revoke' }>): CardEntry {
    const { statusReason: _reason, ...held } = this.byCardId(change.cardId) as CardEntry;
    return { ...held, status: change.status };
  }

  private insert(card: CardEntry): void {
    this.changed.set(card.cardId, card);
    const uid = uidOf(card);
    if (uid === undefined) return;
    const holder = this.holderOf(uid);
    if (holder && holder.cardId !== card.cardId)
      reject('inconsistent', `cards ${holder.cardId} and ${card.cardId} share a UID`);
    this.changedUids.set(uid, card);
  }

  private pack(): void {
    this.table = CardTable.build(this.entries(), this.size);
    this.replaced = new Uint8Array(this.table.rows);
    this.changed = new Map();
    this.changedUids = new Map();
    this.added = 0;
  }

  private indexPeople(): NonNullable<RosterIndex['people']> {
    const table = this.table;
    const rows = table.personLookup();
    for (let row = 0; row < table.rows; row++) {
      if (this.replaced[row]) continue;
      const slot = rows.slotOfRow(row);
      const held = rows.rowAt(slot);
      if (held < 0 || (table.statusAt(held) !== 'active' && table.statusAt(row) === 'active'))
        rows.put(slot, row);
    }
    const changed = new Map<string, CardEntry>();
    for (const card of this.changed.values())
      if (better(changed.get(card.personId), card)) changed.set(card.personId, card);
    this.people = { rows, changed };
    return this.people;
  }

  private replaceSchedules(schedules: Schedule[]): void {
    this.schedules = new Map(schedules.map((s) => [s.id, s]));
  }
}
