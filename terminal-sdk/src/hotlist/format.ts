import { createHmac } from 'node:crypto';

/**
 * The hotlist's binary body (docs/hotlist.md is its specification, for readers of other vendors): a
 * 40-byte header, then fixed-width entries sorted by key, so that a reader keeps the whole list in one
 * buffer and finds a card by binary search, with no object per card.
 */

export const HOTLIST_MAGIC = Buffer.from('EDHL', 'ascii');
export const HOTLIST_FORMAT = 1;
export const HOTLIST_HEADER_BYTES = 40;
/** What format 1 defines of an entry: the key, then the status. A later format may add bytes after them. */
export const HOTLIST_ENTRY_BYTES = 9;
export const HOTLIST_KEY_BYTES = 8;
export const HOTLIST_HASH_KEY_BYTES = 16;

export const HOTLIST_KINDS = ['snapshot', 'delta'] as const;
export type HotlistKind = (typeof HOTLIST_KINDS)[number];
const KIND_CODE: Record<HotlistKind, number> = { snapshot: 1, delta: 2 };

/** Why a card is on the hotlist. In a delta, `removed` takes it off (found again, reactivated). */
export const HOTLIST_STATUSES = ['lost', 'cancelled', 'suspended'] as const;
export type HotlistStatus = (typeof HOTLIST_STATUSES)[number];
export type HotlistChange = HotlistStatus | 'removed';
const STATUS_CODE: Record<HotlistChange, number> = { removed: 0, lost: 1, cancelled: 2, suspended: 3 };
const STATUS_OF = ['removed', 'lost', 'cancelled', 'suspended'] as const;

export class HotlistFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HotlistFormatError';
  }
}

export interface HotlistHeader {
  kind: HotlistKind;
  version: number;
  /** The version a delta applies to; 0 in a snapshot. */
  fromVersion: number;
  /** The key of the keyed hash every entry's key is made with; a delta has its snapshot's. */
  hashKey: Buffer;
  count: number;
  entrySize: number;
}

export interface HotlistEntry {
  key: Buffer;
  status: HotlistChange;
}

/** A card number's entry key: the first 8 bytes of HMAC-SHA-256 over its UTF-8 bytes, keyed by the list's hash key. */
export function hotlistKey(hashKey: Uint8Array, cardNumber: string): Buffer {
  return createHmac('sha256', hashKey).update(cardNumber, 'utf8').digest().subarray(0, HOTLIST_KEY_BYTES);
}

/** Of two revoked cards that share a key (one chance in 2^64 per pair), the list keeps the stronger reason. */
const PRECEDENCE: Record<HotlistChange, number> = { removed: 0, suspended: 1, lost: 2, cancelled: 3 };

/**
 * The entries for cards by number: keyed, sorted, one entry a key. What a bridge encodes; a card
 * number given twice keeps its stronger status.
 */
export function hotlistEntries(
  hashKey: Uint8Array,
  cards: Iterable<{ cardNumber: string; status: HotlistChange }>,
): HotlistEntry[] {
  const byKey = new Map<string, HotlistEntry>();
  for (const { cardNumber, status } of cards) {
    const key = hotlistKey(hashKey, cardNumber);
    const id = key.toString('hex');
    const held = byKey.get(id);
    if (!held || PRECEDENCE[status] > PRECEDENCE[held.status]) byKey.set(id, { key, status });
  }
  return [...byKey.values()].sort((a, b) => Buffer.compare(a.key, b.key));
}

/** Encodes a snapshot or a delta; `entries` must be sorted by key with no key twice (hotlistEntries). */
export function encodeHotlist(
  header: Pick<HotlistHeader, 'kind' | 'version' | 'hashKey'> & { fromVersion?: number },
  entries: readonly HotlistEntry[],
): Buffer {
  if (header.hashKey.length !== HOTLIST_HASH_KEY_BYTES)
    throw new RangeError(`a hash key is ${HOTLIST_HASH_KEY_BYTES} bytes`);
  const out = Buffer.alloc(HOTLIST_HEADER_BYTES + entries.length * HOTLIST_ENTRY_BYTES);
  HOTLIST_MAGIC.copy(out, 0);
  out[4] = HOTLIST_FORMAT;
  out[5] = KIND_CODE[header.kind];
  out[6] = HOTLIST_ENTRY_BYTES;
  out.writeUInt32BE(header.version, 8);
  out.writeUInt32BE(header.kind === 'delta' ? (header.fromVersion ?? 0) : 0, 12);
  header.hashKey.copy(out, 16);
  out.writeUInt32BE(entries.length, 32);
  let offset = HOTLIST_HEADER_BYTES;
  let previous: Buffer | undefined;
  for (const entry of entries) {
    if (entry.key.length !== HOTLIST_KEY_BYTES) throw new RangeError(`a key is ${HOTLIST_KEY_BYTES} bytes`);
    if (previous && Buffer.compare(previous, entry.key) >= 0)
      throw new RangeError('entries must be sorted by key, each key once');
    if (header.kind === 'snapshot' && entry.status === 'removed')
      throw new RangeError('a snapshot lists revoked cards only');
    entry.key.copy(out, offset);
    out[offset + HOTLIST_KEY_BYTES] = STATUS_CODE[entry.status];
    offset += HOTLIST_ENTRY_BYTES;
    previous = entry.key;
  }
  return out;
}

/** Reads and checks a header against the body's length. Throws HotlistFormatError. */
export function parseHotlistHeader(bytes: Uint8Array): HotlistHeader {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (body.length < HOTLIST_HEADER_BYTES || !body.subarray(0, 4).equals(HOTLIST_MAGIC))
    throw new HotlistFormatError('not a hotlist: no EDHL header');
  if (body[4] !== HOTLIST_FORMAT)
    throw new HotlistFormatError(`hotlist format ${body[4]} unknown (this reader knows ${HOTLIST_FORMAT})`);
  const kind = HOTLIST_KINDS.find((k) => KIND_CODE[k] === body[5]);
  if (!kind) throw new HotlistFormatError(`hotlist kind ${body[5]} unknown`);
  const entrySize = body[6] as number;
  if (entrySize < HOTLIST_ENTRY_BYTES)
    throw new HotlistFormatError(`an entry of ${entrySize} bytes is shorter than ${HOTLIST_ENTRY_BYTES}`);
  const version = body.readUInt32BE(8);
  const fromVersion = body.readUInt32BE(12);
  const count = body.readUInt32BE(32);
  if (version === 0) throw new HotlistFormatError('hotlist version 0');
  if ((kind === 'snapshot') !== (fromVersion === 0))
    throw new HotlistFormatError('a delta names the version it follows; a snapshot none');
  if (kind === 'delta' && fromVersion >= version)
    throw new HotlistFormatError(`delta ${fromVersion}→${version} does not go forward`);
  if (body.length !== HOTLIST_HEADER_BYTES + count * entrySize) {
    throw new HotlistFormatError(
      `${count} entries of ${entrySize} bytes make ${HOTLIST_HEADER_BYTES + count * entrySize} bytes, the body is ${body.length}`,
    );
  }
  return {
    kind,
    version,
    fromVersion,
    hashKey: Buffer.from(body.subarray(16, 32)),
    count,
    entrySize,
  };
}

/** The part of a parsed body the table searches: entries `size` bytes apart from `offset`. */
interface Entries {
  bytes: Buffer;
  offset: number;
  size: number;
  count: number;
}

const entryOffset = (entries: Entries, index: number) => entries.offset + index * entries.size;

/** Compares the key of entry `index` with the key `hi:lo` (two unsigned 32-bit halves). */
function compareAt(entries: Entries, index: number, hi: number, lo: number): number {
  const at = entryOffset(entries, index);
  const h = entries.bytes.readUInt32BE(at);
  if (h !== hi) return h < hi ? -1 : 1;
  const l = entries.bytes.readUInt32BE(at + 4);
  return l === lo ? 0 : l < lo ? -1 : 1;
}

/** The first index whose key is not below `hi:lo`. */
function lowerBound(entries: Entries, hi: number, lo: number, from = 0): number {
  let low = from;
  let high = entries.count;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareAt(entries, middle, hi, lo) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Checks that keys go strictly up and every status is one the kind allows. Throws HotlistFormatError. */
function checkEntries(entries: Entries, kind: HotlistKind): void {
  const { bytes, count } = entries;
  let hi = -1;
  let lo = -1;
  for (let i = 0; i < count; i++) {
    const at = entryOffset(entries, i);
    const h = bytes.readUInt32BE(at);
    const l = bytes.readUInt32BE(at + 4);
    if (h < hi || (h === hi && l <= lo))
      throw new HotlistFormatError(`entry ${i} is not above the one before: entries must go up by key`);
    hi = h;
    lo = l;
    const status = bytes[at + HOTLIST_KEY_BYTES] as number;
    if (status > 3 || (status === 0 && kind === 'snapshot'))
      throw new HotlistFormatError(`entry ${i} has status ${status}, which a ${kind} cannot hold`);
  }
}

function entriesOf(bytes: Uint8Array, header: HotlistHeader): Entries {
  return {
    bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    offset: HOTLIST_HEADER_BYTES,
    size: header.entrySize,
    count: header.count,
  };
}

/**
 * The hotlist in force, held as its body: one buffer, searched by binary search. A delta makes a new
 * table (the old one stays whole until the new one replaces it), built by copying runs of the old
 * buffer between the delta's keys.
 */
export class HotlistTable {
  private constructor(
    readonly version: number,
    readonly hashKey: Buffer,
    private readonly entries: Entries,
  ) {}

  /** Parses and checks a snapshot body. Throws HotlistFormatError. */
  static fromSnapshot(bytes: Uint8Array): HotlistTable {
    const header = parseHotlistHeader(bytes);
    if (header.kind !== 'snapshot') throw new HotlistFormatError('a delta is not a hotlist on its own');
    const entries = entriesOf(bytes, header);
    checkEntries(entries, 'snapshot');
    return new HotlistTable(header.version, header.hashKey, entries);
  }

  /** How many cards it lists. */
  get size(): number {
    return this.entries.count;
  }

  /** The bytes it holds: what a reader adds to its memory for the list. */
  get byteLength(): number {
    return this.entries.bytes.length;
  }

  /** Why the card is on the list, or undefined when it is not. */
  lookup(cardNumber: string): HotlistStatus | undefined {
    const key = hotlistKey(this.hashKey, cardNumber);
    const hi = key.readUInt32BE(0);
    const lo = key.readUInt32BE(4);
    const index = lowerBound(this.entries, hi, lo);
    if (index >= this.entries.count || compareAt(this.entries, index, hi, lo) !== 0) return undefined;
    return STATUS_OF[
      this.entries.bytes[entryOffset(this.entries, index) + HOTLIST_KEY_BYTES] as number
    ] as HotlistStatus;
  }

  /** The table as a snapshot body of its own version: what a bridge that applies its own deltas serves. */
  toSnapshot(): Buffer {
    const { bytes, offset, size, count } = this.entries;
    const out = Buffer.alloc(HOTLIST_HEADER_BYTES + count * HOTLIST_ENTRY_BYTES);
    HOTLIST_MAGIC.copy(out, 0);
    out[4] = HOTLIST_FORMAT;
    out[5] = KIND_CODE.snapshot;
    out[6] = HOTLIST_ENTRY_BYTES;
    out.writeUInt32BE(this.version, 8);
    this.hashKey.copy(out, 16);
    out.writeUInt32BE(count, 32);
    if (size === HOTLIST_ENTRY_BYTES) bytes.copy(out, HOTLIST_HEADER_BYTES, offset, offset + count * size);
    else
      for (let i = 0; i < count; i++)
        bytes.copy(
          out,
          HOTLIST_HEADER_BYTES + i * HOTLIST_ENTRY_BYTES,
          offset + i * size,
          offset + i * size + HOTLIST_ENTRY_BYTES,
        );
    return out;
  }

  /** This table with a delta applied: a new table. Throws HotlistFormatError when it does not fit. */
  applyDelta(bytes: Uint8Array): HotlistTable {
    const header = parseHotlistHeader(bytes);
    if (header.kind !== 'delta') throw new HotlistFormatError('a snapshot is not a delta');
    if (header.fromVersion !== this.version)
      throw new HotlistFormatError(
        `delta ${header.fromVersion}→${header.version} does not follow ${this.version}`,
      );
    if (!header.hashKey.equals(this.hashKey))
      throw new HotlistFormatError("the delta's hash key is not its snapshot's");
    const delta = entriesOf(bytes, header);
    checkEntries(delta, 'delta');
    const base = this.entries;
    const out = Buffer.allocUnsafeSlow((base.count + delta.count) * HOTLIST_ENTRY_BYTES);
    let written = 0;
    let from = 0;
    // Runs of the old list between the delta's keys, copied whole where the entry sizes agree.
    const copyBase = (to: number) => {
      if (base.size === HOTLIST_ENTRY_BYTES)
        written += base.bytes.copy(out, written, entryOffset(base, from), entryOffset(base, to));
      else
        for (let i = from; i < to; i++)
          written += base.bytes.copy(
            out,
            written,
            entryOffset(base, i),
            entryOffset(base, i) + HOTLIST_ENTRY_BYTES,
          );
      from = to;
    };
    for (let d = 0; d < delta.count; d++) {
      const at = entryOffset(delta, d);
      const hi = delta.bytes.readUInt32BE(at);
      const lo = delta.bytes.readUInt32BE(at + 4);
      const index = lowerBound(base, hi, lo, from);
      const present = index < base.count && compareAt(base, index, hi, lo) === 0;
      const status = delta.bytes[at + HOTLIST_KEY_BYTES] as number;
      if (status === 0 && !present)
        throw new HotlistFormatError(`delta entry ${d} removes a card the list does not hold`);
      copyBase(index);
      if (present) from = index + 1;
      if (status !== 0) {
        delta.bytes.copy(out, written, at, at + HOTLIST_ENTRY_BYTES);
        written += HOTLIST_ENTRY_BYTES;
      }
    }
    copyBase(base.count);
    return new HotlistTable(header.version, this.hashKey, {
      bytes: out.subarray(0, written),
      offset: 0,
      size: HOTLIST_ENTRY_BYTES,
      count: written / HOTLIST_ENTRY_BYTES,
    });
  }
}
