/**
 * How a card's field is held in the card table's one buffer. Most fields are text, kept as their UTF-8
 * bytes; a UID and a public key are bytes spelled as text (hex, base64url), kept as the bytes they
 * spell: a hashed UID in 16 bytes instead of 23, a key in 32 instead of 43, a million bytes fewer on a
 * 100,000-card roster. Each spelling is read back exactly as the roster wrote it.
 */
export interface FieldCodec {
  /** Writes what `text` spells into `into` at `at`: the length written, or -1 when `text` has no held form. */
  write(text: string, into: Buffer, at: number): number;
  read(from: Buffer, start: number, end: number): string;
  /** The most bytes `write` may take for a text of `chars` characters. */
  room(chars: number): number;
}

/** A field's UTF-8 bytes; most are ASCII (identifiers), copied here, cheaper than a call into Buffer#write. */
export const textCodec: FieldCodec = {
  write(text, into, at) {
    let end = at;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code > 0x7f) return into.write(text, at, 'utf8');
      into[end++] = code;
    }
    return end - at;
  },
  read: (from, start, end) => from.toString('utf8', start, end),
  room: (chars) => chars * 3,
};

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const SEXTETS = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64URL.length; i++) SEXTETS[BASE64URL.charCodeAt(i)] = i;

/**
 * Decodes `text` from `from` on, base64url without padding, into exactly `bytes` bytes; false when it
 * is not their canonical spelling (another length, another character, or bits set past the last byte,
 * which would read back as another text).
 */
function decodeBase64Url(text: string, from: number, bytes: number, into: Buffer, at: number): boolean {
  if (text.length - from !== Math.ceil((bytes * 8) / 6)) return false;
  let bits = 0;
  let held = 0;
  let out = at;
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const sextet = code < 128 ? (SEXTETS[code] as number) : -1;
    if (sextet < 0) return false;
    held = ((held << 6) | sextet) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      into[out++] = (held >> bits) & 0xff;
    }
  }
  return (held & ((1 << bits) - 1)) === 0;
}

/** Upper-case hex, as the contract spells a UID read from a card. */
function decodeHex(text: string, into: Buffer, at: number): boolean {
  for (let i = 0; i < text.length; i += 2) {
    const high = hexDigit(text.charCodeAt(i));
    const low = hexDigit(text.charCodeAt(i + 1));
    if (high < 0 || low < 0) return false;
    into[at + i / 2] = (high << 4) | low;
  }
  return true;
}

function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  return -1;
}

const HASHED_UID_BYTES = 16;

/**
 * A UID: a clear one (4, 7 or 10 bytes in upper-case hex) or a gate's hashed one (`~` and 16 bytes of
 * base64url), told apart when read by their length. Empty: the card has none.
 */
export const uidCodec: FieldCodec = {
  write(text, into, at) {
    if (text.length === 0) return 0;
    if (text.charCodeAt(0) === 0x7e)
      return decodeBase64Url(text, 1, HASHED_UID_BYTES, into, at) ? HASHED_UID_BYTES : -1;
    if (text.length !== 8 && text.length !== 14 && text.length !== 20) return -1;
    return decodeHex(text, into, at) ? text.length / 2 : -1;
  },
  read(from, start, end) {
    if (end === start) return '';
    return end - start === HASHED_UID_BYTES
      ? `~${from.toString('base64url', start, end)}`
      : from.toString('hex', start, end).toUpperCase();
  },
  room: (chars) => chars,
};

const PUBLIC_KEY_BYTES = 32;

/** A raw Ed25519 public key in base64url. Empty: the card has none (a UID card). */
export const publicKeyCodec: FieldCodec = {
  write(text, into, at) {
    if (text.length === 0) return 0;
    return decodeBase64Url(text, 0, PUBLIC_KEY_BYTES, into, at) ? PUBLIC_KEY_BYTES : -1;
  },
  read: (from, start, end) => from.toString('base64url', start, end),
  room: (chars) => chars,
};
