import {
  CARD_STATUSES,
  type CardEntry,
  type CardStatus,
  ROLES,
  type Role,
  STATUS_REASONS,
  type StatusReason,
} from '@educard/terminal-sdk';
import { reject } from './errors.js';
import { type FieldCodec, publicKeyCodec, textCodec, uidCodec } from './field-codecs.js';

const FIELDS = 5;
const CARD_ID = 0;
const PERSON_ID = 1;
const UID = 2;
const PUBLIC_KEY = 3;
const NAME = 4;

/** Each field's codec, by its number. */
const CODECS: readonly FieldCodec[] = [textCodec, textCodec, uidCodec, publicKeyCodec, textCodec];

/**
 * The fields of every card in one buffer: a card's fields one after another from `starts[row]`, each
 * as long as `lengths[row * FIELDS + field]` (a field is at most 64 characters, up to 256 bytes in UTF-8: hence 16 bits),
 * each held as its codec writes it.
 */
class TextHeap {
  bytes: Buffer;
  starts: Uint32Array;
  lengths: Uint16Array;
  private end = 0;
  private row = 0;
  private field = 0;

  constructor(private readonly rows: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(1024, rows * 48));
    this.starts = new Uint32Array(rows);
    this.lengths = new Uint16Array(rows * FIELDS);
  }

  /** Starts the fields of `row`, making room for `chars` characters of them. */
  startRow(row: number, chars: number): void {
    this.starts[row] = this.end;
    this.row = row;
    this.field = 0;
    const need = this.end + chars * 3;
    if (need > this.bytes.length) {
      // Grown to what the cards so far say the rest will need: few large allocations, little left behind.
      const expected = Math.ceil((this.end / Math.max(1, row)) * this.rows * 1.1);
      const grown = Buffer.allocUnsafe(Math.max(need, expected, this.bytes.length * 1.25));
      this.bytes.copy(grown, 0, 0, this.end);
      this.bytes = grown;
    }
  }

  /** The next field of the row started last; false when its text has no held form (the card is refused). */
  pushField(text: string): boolean {
    const length = (CODECS[this.field] as FieldCodec).write(text, this.bytes, this.end);
    if (length < 0) return false;
    this.lengths[this.row * FIELDS + this.field++] = length;
    this.end += length;
    return true;
  }

  /** Drops the room kept for growth once every row is in. */
  trim(): void {
    if (this.bytes.length > this.end) this.bytes = Buffer.from(this.bytes.subarray(0, this.end));
  }

  start(row: number, field: number): number {
    let at = this.starts[row] as number;
    for (let f = 0; f < field; f++) at += this.lengths[row * FIELDS + f] as number;
    return at;
  }

  length(row: number, field: number): number {
    return this.lengths[row * FIELDS + field] as number;
  }

  text(row: number, field: number): string {
    const start = this.start(row, field);
    return (CODECS[field] as FieldCodec).read(this.bytes, start, start + this.length(row, field));
  }
}

/** Where a key looked up is written in its held form: one lookup at a time, so one buffer serves all. */
const probe = Buffer.allocUnsafe(256);

/** One field of a TextHeap as the key of a RowLookup, compared in its held form. */
class KeyField {
  private readonly codec: FieldCodec;

  constructor(
    private readonly heap: TextHeap,
    private readonly field: number,
  ) {
    this.codec = CODECS[field] as FieldCodec;
  }

  text(row: number): string {
    return this.heap.text(row, this.field);
  }

  /** `key` in its held form at the start of `probe`: its length, or -1 when no card could hold it. */
  held(key: string): number {
    if (this.codec.room(key.length) > probe.length) return -1;
    return this.codec.write(key, probe, 0);
  }

  /** Whether the row holds the `length` bytes at the start of `probe`. */
  equals(row: number, length: number): boolean {
    if (this.heap.length(row, this.field) !== length) return false;
    const bytes = this.heap.bytes;
    const start = this.heap.start(row, this.field);
    // From the end: the numbers of one school's cards differ in their last characters.
    for (let i = length - 1; i >= 0; i--) if (bytes[start + i] !== probe[i]) return false;
    return true;
  }

  same(row: number, other: number): boolean {
    const length = this.heap.length(row, this.field);
    if (this.heap.length(other, this.field) !== length) return false;
    const bytes = this.heap.bytes;
    const a = this.heap.start(row, this.field);
    const b = this.heap.start(other, this.field);
    for (let i = length - 1; i >= 0; i--) if (bytes[a + i] !== bytes[b + i]) return false;
    return true;
  }

  hash(row: number): number {
    const start = this.heap.start(row, this.field);
    return hashBytes(this.heap.bytes, start, start + this.heap.length(row, this.field));
  }
}

/** FNV-1a over bytes. */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193);
  return hash >>> 0;
}

/** FNV-1a; `from` continues the hash of texts before this one. */
function hashOf(key: string, from = 0x811c9dc5): number {
  let hash = from;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/**
 * Rows by the text of one field: open addressing over a typed array (row + 1; 0 is empty), at most
 * three quarters full, so a lookup makes no object and probes a slot or two.
 */
export class RowLookup {
  private readonly slots: Int32Array;

  constructor(
    private readonly key: KeyField,
    rows: number,
  ) {
    // At most three quarters full: a probe or two per lookup, and half the memory of half full.
    this.slots = new Int32Array(Math.max(16, Math.ceil((rows * 4) / 3) + 1));
  }

  /** The slot of the text of `row`: where an equal text sits, or the empty slot for it. */
  slotOfRow(row: number): number {
    let slot = this.key.hash(row) % this.slots.length;
    for (;;) {
      const held = this.slots[slot] as number;
      if (held === 0 || this.key.same(held - 1, row)) return slot;
      slot = slot + 1 === this.slots.length ? 0 : slot + 1;
    }
  }

  rowAt(slot: number): number {
    return (this.slots[slot] as number) - 1;
  }

  put(slot: number, row: number): void {
    this.slots[slot] = row + 1;
  }

  /** The row whose field is `key`, or -1. */
  find(key: string): number {
    const length = this.key.held(key);
    if (length < 0) return -1;
    let slot = hashBytes(probe, 0, length) % this.slots.length;
    for (;;) {
      const held = this.slots[slot] as number;
      if (held === 0) return -1;
      if (this.key.equals(held - 1, length)) return held - 1;
      slot = slot + 1 === this.slots.length ? 0 : slot + 1;
    }
  }
}

/**
 * What many cards have in common: their school, grade, class, validity and access. A school's cards
 * fall into a few hundred of these, each kept once.
 */
type Profile = Pick<
  CardEntry,
  'school' | 'grade' | 'class' | 'validFrom' | 'validUntil' | 'zones' | 'schedules'
>;

function profileHash(p: Profile): number {
  let hash = hashOf(p.validUntil, hashOf(p.validFrom, hashOf(p.school)));
  for (const zone of p.zones) hash = hashOf(zone, hash);
  for (const schedule of p.schedules) hash = hashOf(schedule, hash);
  return hashOf(p.class ?? '', hashOf(p.grade ?? '', hash));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameProfile(a: Profile, b: Profile): boolean {
  return (
    a.school === b.school &&
    a.validFrom === b.validFrom &&
    a.validUntil === b.validUntil &&
    a.grade === b.grade &&
    a.class === b.class &&
    sameList(a.zones, b.zones) &&
    sameList(a.schedules, b.schedules)
  );
}

/**
 * A table's profiles, each kept once: a card holds its profile's number. A card's profile is found by
 * a hash of its fields and compared field by field, so matching it makes no string and no object.
 */
class Profiles {
  readonly values: Profile[] = [];
  /** Profile numbers by hash: the rare hash two profiles share holds both. */
  private readonly byHash = new Map<number, number[]>();

  numberOf(card: Profile): number {
    const hash = profileHash(card);
    const held = this.byHash.get(hash);
    if (held) for (const n of held) if (sameProfile(this.values[n] as Profile, card)) return n;
    const { school, grade, class: klass, validFrom, validUntil, zones, schedules } = card;
    const n = this.values.push({ school, grade, class: klass, validFrom, validUntil, zones, schedules }) - 1;
    if (held) held.push(n);
    else this.byHash.set(hash, [n]);
    return n;
  }
}

const CPU = 1;
const HAS_UID = 2;
const HAS_NAME = 4;

/**
 * The cards of a roster as columns: small numbers in typed arrays, texts in one buffer, shared values
 * interned. A card becomes an object only when it is asked for (the card being decided, a line of
 * `educard roster list`). Built once from a snapshot, then only read.
 */
export class CardTable {
  rows = 0;
  private readonly flags: Uint8Array;
  private readonly role: Uint8Array;
  private readonly status: Uint8Array;
  private readonly reason: Uint8Array;
  /** The interned number of each card's profile. */
  private readonly profile: Uint32Array;
  private readonly texts: TextHeap;
  private readonly profiles = new Profiles();
  private readonly cardIds: KeyField;
  private readonly byCard: RowLookup;
  private readonly byUid: RowLookup;

  private constructor(private readonly capacity: number) {
    this.flags = new Uint8Array(capacity);
    this.role = new Uint8Array(capacity);
    this.status = new Uint8Array(capacity);
    this.reason = new Uint8Array(capacity);
    this.profile = new Uint32Array(capacity);
    this.texts = new TextHeap(capacity);
    this.cardIds = new KeyField(this.texts, CARD_ID);
    this.byCard = new RowLookup(this.cardIds, capacity);
    this.byUid = new RowLookup(new KeyField(this.texts, UID), capacity);
  }

  /** Packs at most `capacity` cards; two cards with one number or one UID are refused. */
  static build(cards: Iterable<CardEntry>, capacity: number): CardTable {
    const table = new CardTable(capacity);
    for (const card of cards) table.push(card);
    table.texts.trim();
    return table;
  }

  private push(card: CardEntry): void {
    const row = this.rows;
    if (row === this.capacity) reject('inconsistent', `more than the ${this.capacity} cards counted`);
    const { credential } = card;
    const uid = credential.uid ?? '';
    const publicKey = credential.kind === 'edu-cpu' ? credential.publicKey : '';
    const name = card.displayName ?? '';
    const texts = this.texts;
    texts.startRow(
      row,
      card.cardId.length + card.personId.length + uid.length + publicKey.length + name.length,
    );
    if (
      !texts.pushField(card.cardId) ||
      !texts.pushField(card.personId) ||
      !texts.pushField(uid) ||
      !texts.pushField(publicKey) ||
      !texts.pushField(name)
    )
      reject('malformed', `card ${card.cardId}: its UID or public key is not as the contract spells one`);
    const cardSlot = this.byCard.slotOfRow(row);
    if (this.byCard.rowAt(cardSlot) >= 0)
      reject('inconsistent', `card ${card.cardId} appears twice in the snapshot`);
    if (credential.uid !== undefined) {
      const uidSlot = this.byUid.slotOfRow(row);
      const holder = this.byUid.rowAt(uidSlot);
      if (holder >= 0)
        reject('inconsistent', `cards ${this.cardIds.text(holder)} and ${card.cardId} share a UID`);
      this.byUid.put(uidSlot, row);
    }
    this.byCard.put(cardSlot, row);
    this.flags[row] =
      (credential.kind === 'edu-cpu' ? CPU : 0) |
      (credential.uid !== undefined ? HAS_UID : 0) |
      (card.displayName !== undefined ? HAS_NAME : 0);
    this.role[row] = ROLES.indexOf(card.role);
    this.status[row] = CARD_STATUSES.indexOf(card.status);
    this.reason[row] = card.statusReason === undefined ? 0 : STATUS_REASONS.indexOf(card.statusReason) + 1;
    this.profile[row] = this.profiles.numberOf(card);
    this.rows = row + 1;
  }

  /** The row of a card number, or -1. */
  rowOfCard(cardId: string): number {
    return this.byCard.find(cardId);
  }

  /** The row of a UID, or -1. */
  rowOfUid(uid: string): number {
    return uid === '' ? -1 : this.byUid.find(uid);
  }

  statusAt(row: number): CardStatus {
    return CARD_STATUSES[this.status[row] as number] as CardStatus;
  }

  /** A lookup of rows by person id, made when a station first needs one. */
  personLookup(): RowLookup {
    return new RowLookup(new KeyField(this.texts, PERSON_ID), this.rows);
  }

  /** The card of a row as the roster gave it. */
  entry(row: number): CardEntry {
    const flags = this.flags[row] as number;
    const profile = this.profiles.values[this.profile[row] as number] as Profile;
    const uid = flags & HAS_UID ? this.texts.text(row, UID) : undefined;
    const card: CardEntry = {
      cardId: this.texts.text(row, CARD_ID),
      credential:
        flags & CPU
          ? {
              kind: 'edu-cpu',
              publicKey: this.texts.text(row, PUBLIC_KEY),
              ...(uid === undefined ? {} : { uid }),
            }
          : { kind: 'uid', uid: uid as string },
      personId: this.texts.text(row, PERSON_ID),
      role: ROLES[this.role[row] as number] as Role,
      school: profile.school,
      status: this.statusAt(row),
      validFrom: profile.validFrom,
      validUntil: profile.validUntil,
      zones: [...profile.zones],
      schedules: [...profile.schedules],
    };
    const reason = this.reason[row] as number;
    if (profile.grade !== undefined) card.grade = profile.grade;
    if (profile.class !== undefined) card.class = profile.class;
    if (reason) card.statusReason = STATUS_REASONS[reason - 1] as StatusReason;
    if (flags & HAS_NAME) card.displayName = this.texts.text(row, NAME);
    return card;
  }
}
