import { reject } from './errors.js';

/**
 * A snapshot's JSON split into its frame (everything but the cards) and the text of each card, so
 * that a card is parsed, checked and packed one at a time: the parsed objects die young, where
 * collecting them is cheap, and a hundred thousand of them never exist at once.
 *
 * Only the structure is scanned here (strings, brackets, commas); every piece is then parsed by
 * JSON.parse, which rejects whatever the scan let through that is not JSON.
 */
export interface SnapshotText {
  frame: unknown;
  count: number;
  cards: Iterable<string>;
}

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

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

function skipSpace(text: string, at: number): number {
  let i = at;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** The index just past the string whose opening quote is at `at`. */
function stringEnd(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === BACKSLASH) i++;
    else if (code === QUOTE) return i + 1;
  }
  return malformed(`a string at ${at} is not closed`);
}

/** The index just past the value that starts at `at`. */
function valueEnd(text: string, at: number): number {
  const first = text.charCodeAt(at);
  if (first === QUOTE) return stringEnd(text, at);
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    let depth = 0;
    for (let i = at; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code === QUOTE) i = stringEnd(text, i) - 1;
      else if (code === OPEN_OBJECT || code === OPEN_ARRAY) depth++;
      else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    return malformed(`a value at ${at} is not closed`);
  }
  let i = at;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code === COMMA || code === CLOSE_OBJECT || code === CLOSE_ARRAY || isSpace(code)) break;
    i++;
  }
  return i === at ? malformed(`a value is missing at ${at}`) : i;
}

/** Where each card of the array that opens at `at` starts and ends, and the index past the array. */
function cardBounds(text: string, at: number): { bounds: number[]; end: number } {
  const bounds: number[] = [];
  let i = skipSpace(text, at + 1);
  if (text.charCodeAt(i) === CLOSE_ARRAY) return { bounds, end: i + 1 };
  for (;;) {
    const end = valueEnd(text, i);
    bounds.push(i, end);
    i = skipSpace(text, end);
    const code = text.charCodeAt(i);
    if (code === CLOSE_ARRAY) return { bounds, end: i + 1 };
    if (code !== COMMA) malformed(`"," or "]" was expected at ${i}`);
    i = skipSpace(text, i + 1);
  }
}

/** The top-level `cards` array: where it is and where each card is; a second `cards` key is refused. */
function findCards(text: string): { start: number; end: number; bounds: number[] } {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_OBJECT) malformed('not an object');
  let found: { start: number; end: number; bounds: number[] } | undefined;
  i = skipSpace(text, i + 1);
  while (text.charCodeAt(i) !== CLOSE_OBJECT) {
    if (text.charCodeAt(i) !== QUOTE) malformed(`a key was expected at ${i}`);
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) malformed(`":" was expected at ${i}`);
    const start = skipSpace(text, i + 1);
    let end: number;
    if (key === 'cards') {
      if (found) malformed('"cards" appears twice');
      if (text.charCodeAt(start) !== OPEN_ARRAY) reject('malformed', 'roster body: cards is not an array');
      const cards = cardBounds(text, start);
      end = cards.end;
      found = { start, end, bounds: cards.bounds };
    } else end = valueEnd(text, start);
    i = skipSpace(text, end);
    if (text.charCodeAt(i) === COMMA) i = skipSpace(text, i + 1);
    else if (text.charCodeAt(i) !== CLOSE_OBJECT) malformed(`"," or "}" was expected at ${i}`);
  }
  return found ?? reject('malformed', 'roster body: cards is missing');
}

function* cardTexts(text: string, bounds: number[]): Generator<string> {
  for (let i = 0; i < bounds.length; i += 2) yield text.slice(bounds[i], bounds[i + 1]);
}

export function splitSnapshot(text: string): SnapshotText {
  const { start, end, bounds } = findCards(text);
  let frame: unknown;
  try {
    frame = JSON.parse(`${text.slice(0, start)}[]${text.slice(end)}`);
  } catch (error) {
    return malformed((error as Error).message);
  }
  return { frame, count: bounds.length / 2, cards: cardTexts(text, bounds) };
}
