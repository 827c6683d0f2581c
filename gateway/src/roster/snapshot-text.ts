import { reject } from './errors.js';

/**
 * A snapshot's JSON split into its frame (everything but the cards) and the text of each card, so
 * that a card is parsed, checked and packed one at a time: the parsed objects die young, where
 * collecting them is cheap, and a hundred thousand of them never exist at once.
 *
 * Only the structure is scanned here (strings, brackets, commas), on the UTF-8 bytes themselves: the
 * body never becomes one string (tens of megabytes), only each card does. Every byte of a multi-byte
 * character is 0x80 or more, so none is taken for a quote or a bracket. Every piece is then parsed by
 * JSON.parse, which rejects whatever the scan let through that is not JSON. The caller checks first
 * that the bytes are UTF-8.
 */
export interface SnapshotText {
  frame: unknown;
  count: number;
  /** Each card as JSON.parse gives it, unchecked. */
  cards: Iterable<unknown>;
}

/**
 * Cards are parsed a batch of about this many bytes at a time: one JSON.parse over a few hundred
 * cards costs less than one per card, and a batch is still small.
 */
const BATCH_BYTES = 16 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

function malformed(what: string): never {
  return reject('malformed', `roster body is not JSON (${what})`);
}

/** The byte at `at`, or -1 past the end. */
function byteAt(body: Buffer, at: number): number {
  return body[at] ?? -1;
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function skipSpace(body: Buffer, at: number): number {
  let i = at;
  while (i < body.length && isSpace(byteAt(body, i))) i++;
  return i;
}

/** The index just past the string whose opening quote is at `at`. */
function stringEnd(body: Buffer, at: number): number {
  for (let i = at + 1; i < body.length; i++) {
    const code = byteAt(body, i);
    if (code === BACKSLASH) i++;
    else if (code === QUOTE) return i + 1;
  }
  return malformed(`a string at ${at} is not closed`);
}

/** The index just past the value that starts at `at`. */
function valueEnd(body: Buffer, at: number): number {
  const first = byteAt(body, at);
  if (first === QUOTE) return stringEnd(body, at);
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    let depth = 0;
    for (let i = at; i < body.length; i++) {
      const code = byteAt(body, i);
      if (code === QUOTE) i = stringEnd(body, i) - 1;
      else if (code === OPEN_OBJECT || code === OPEN_ARRAY) depth++;
      else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return malformed(`a value at ${at} is not closed`);
  }
  let i = at;
  while (i < body.length) {
    const code = byteAt(body, i);
    if (code === COMMA || code === CLOSE_OBJECT || code === CLOSE_ARRAY || isSpace(code)) break;
    i++;
  }
  return i === at ? malformed(`a value is missing at ${at}`) : i;
}

/** Where each card of the array that opens at `at` starts and ends, and the index past the array. */
function cardBounds(body: Buffer, at: number): { bounds: number[]; end: number } {
  const bounds: number[] = [];
  let i = skipSpace(body, at + 1);
  if (byteAt(body, i) === CLOSE_ARRAY) return { bounds, end: i + 1 };
  for (;;) {
    const end = valueEnd(body, i);
    bounds.push(i, end);
    i = skipSpace(body, end);
    const code = byteAt(body, i);
    if (code === CLOSE_ARRAY) return { bounds, end: i + 1 };
    if (code !== COMMA) malformed(`"," or "]" was expected at ${i}`);
    i = skipSpace(body, i + 1);
  }
}

/** The top-level `cards` array: where it is and where each card is; a second `cards` key is refused. */
function findCards(body: Buffer): { start: number; end: number; bounds: number[] } {
  let i = skipSpace(body, 0);
  if (byteAt(body, i) !== OPEN_OBJECT) malformed('not an object');
  let found: { start: number; end: number; bounds: number[] } | undefined;
  i = skipSpace(body, i + 1);
  while (byteAt(body, i) !== CLOSE_OBJECT) {
    if (byteAt(body, i) !== QUOTE) malformed(`a key was expected at ${i}`);
    const keyEnd = stringEnd(body, i);
    const key = JSON.parse(body.toString('utf8', i, keyEnd)) as string;
    i = skipSpace(body, keyEnd);
    if (byteAt(body, i) !== COLON) malformed(`":" was expected at ${i}`);
    const start = skipSpace(body, i + 1);
    let end: number;
    if (key === 'cards') {
      if (found) malformed('"cards" appears twice');
      if (byteAt(body, start) !== OPEN_ARRAY) reject('malformed', 'roster body: cards is not an array');
      const cards = cardBounds(body, start);
      end = cards.end;
      found = { start, end, bounds: cards.bounds };
    } else end = valueEnd(body, start);
    i = skipSpace(body, end);
    if (byteAt(body, i) === COMMA) i = skipSpace(body, i + 1);
    else if (byteAt(body, i) !== CLOSE_OBJECT) malformed(`"," or "}" was expected at ${i}`);
  }
  return found ?? reject('malformed', 'roster body: cards is missing');
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return malformed((error as Error).message);
  }
}

/** The cards whose bounds are given, parsed a batch at a time: between two cards are only "," and spaces. */
function* parsedCards(body: Buffer, bounds: number[]): Generator<unknown> {
  for (let first = 0; first < bounds.length; ) {
    const start = bounds[first] as number;
    let last = first;
    while (last + 2 < bounds.length && (bounds[last + 3] as number) - start <= BATCH_BYTES) last += 2;
    const cards = parse(`[${body.toString('utf8', start, bounds[last + 1])}]`);
    // The scan found each card whole: a batch that parses to another count is a scan gone wrong.
    if (!Array.isArray(cards) || cards.length !== (last - first) / 2 + 1) malformed(`cards at ${start}`);
    yield* cards;
    first = last + 2;
  }
}

/** Splits a snapshot's bytes, which must be UTF-8. */
export function splitSnapshot(bytes: Uint8Array): SnapshotText {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { start, end, bounds } = findCards(body);
  const frame = parse(`${body.toString('utf8', 0, start)}[]${body.toString('utf8', end)}`);
  return { frame, count: bounds.length / 2, cards: parsedCards(body, bounds) };
}
