/**
 * The ATR a PC/SC reader builds for a contactless storage card (PC/SC part 3): the card has no ATR of
 * its own, so the reader makes one whose historical bytes say what the card is.
 *
 * ```
 * 3B 8F 80 01 | 80 4F 0C A0 00 00 03 06 SS NN NN 00 00 00 00 | TCK
 * ```
 *
 * `80` is the category indicator; `4F 0C` an application identifier of 12 bytes: the PC/SC RID
 * `A0 00 00 03 06`, the standard `SS` (the supplemental document's table 2), the card name `NN NN`
 * (its table 3) and four RFU bytes. TCK is the XOR of every byte from T0 on.
 */
export const STORAGE_CARD_ATR_HEAD = Uint8Array.from([
  0x3b, 0x8f, 0x80, 0x01, 0x80, 0x4f, 0x0c, 0xa0, 0x00, 0x00, 0x03, 0x06,
]);
const STORAGE_CARD_ATR_LENGTH = STORAGE_CARD_ATR_HEAD.length + 3 + 4 + 1;

/** Standard bytes (`SS`) of PC/SC part 3 this project names. */
export const STORAGE_STANDARD = {
  ISO14443A_PART3: 0x03,
  ISO15693_PART3: 0x0b,
  ISO15693_PART4: 0x0c,
} as const;

/** Card names (`NN NN`) of PC/SC part 3 this project names. */
export const STORAGE_CARD_NAME = {
  MIFARE_CLASSIC_1K: 0x0001,
  /** What readers give for NXP ICODE SLI tags, the usual library book tag. */
  ICODE_SLI: 0x0014,
} as const;

/** The ATR a reader builds for a storage card of this standard and name, TCK included. */
export function storageCardAtr(standard: number, cardName: number): Uint8Array {
  const atr = new Uint8Array(STORAGE_CARD_ATR_LENGTH);
  atr.set(STORAGE_CARD_ATR_HEAD);
  const at = STORAGE_CARD_ATR_HEAD.length;
  atr[at] = standard & 0xff;
  atr[at + 1] = (cardName >> 8) & 0xff;
  atr[at + 2] = cardName & 0xff;
  atr[atr.length - 1] = atr.subarray(1, -1).reduce((x, b) => x ^ b, 0);
  return atr;
}

/**
 * The standard and card name of a storage card's ATR, or undefined for any other ATR (an ISO 14443-4
 * card's, whose historical bytes are its own; a contact card's). The TCK is not checked: the reader
 * made the ATR, nothing carried it over a line that could garble it.
 */
export function parseStorageCardAtr(
  atr: Uint8Array | null | undefined,
): { standard: number; cardName: number } | undefined {
  if (!atr || atr.length !== STORAGE_CARD_ATR_LENGTH) return undefined;
  if (!STORAGE_CARD_ATR_HEAD.every((byte, i) => atr[i] === byte)) return undefined;
  const at = STORAGE_CARD_ATR_HEAD.length;
  return { standard: atr[at] as number, cardName: ((atr[at + 1] as number) << 8) | (atr[at + 2] as number) };
}
