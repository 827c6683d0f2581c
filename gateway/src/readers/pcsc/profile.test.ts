import {
  GET_UID,
  STORAGE_CARD_NAME,
  STORAGE_STANDARD,
  SW,
  storageCardAtr,
  withStatus,
} from '@educard/terminal-sdk';
import { ISO15693_TAG_ATR } from '@educard/terminal-sdk/virtual-card';
import { describe, expect, it } from 'vitest';
import { CardRemovedError, classifyAtr, readTag, type Transmit } from './profile.js';

const atr = (hex: string) => new Uint8Array(Buffer.from(hex.replaceAll(' ', ''), 'hex'));

describe('classifyAtr: a book tag or a card, by the ATR the reader built', () => {
  it('takes a storage card of ISO 15693 part 3 or 4 for a tag', () => {
    // As readers give them (the PC/SC part 3 ATR for storage cards, TCK included).
    expect(classifyAtr(atr('3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 14 00 00 00 00 77'))).toBe(
      'iso15693-tag',
    ); // NXP ICODE
    expect(classifyAtr(atr('3B 8F 80 01 80 4F 0C A0 00 00 03 06 0B 00 12 00 00 00 00 71'))).toBe(
      'iso15693-tag',
    ); // Texas Instruments Tag-it
    expect(classifyAtr(storageCardAtr(STORAGE_STANDARD.ISO15693_PART4, 0x0000))).toBe('iso15693-tag');
    expect(classifyAtr(ISO15693_TAG_ATR)).toBe('iso15693-tag');
  });

  it('reads everything else as a card, as before', () => {
    // A MIFARE Classic 1K (ISO 14443 A part 3): a UID card.
    const mifare = atr('3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A');
    expect(storageCardAtr(STORAGE_STANDARD.ISO14443A_PART3, STORAGE_CARD_NAME.MIFARE_CLASSIC_1K)).toEqual(
      mifare,
    );
    expect(classifyAtr(mifare)).toBe('card');
    // An ISO 14443-4 card (the EDU card's ATR: historical bytes "EDUCARD").
    expect(classifyAtr(atr('3B 87 80 01 45 44 55 43 41 52 44 46'))).toBe('card');
    // ISO 15693 parts 1 and 2 name no tag a desk can read; FeliCa is a card.
    expect(classifyAtr(storageCardAtr(0x09, 0))).toBe('card');
    expect(classifyAtr(storageCardAtr(0x0a, 0x001c))).toBe('card');
    expect(classifyAtr(storageCardAtr(0x11, 0x003b))).toBe('card');
    // No ATR, a truncated one, one with another RID, one too long.
    expect(classifyAtr(null)).toBe('card');
    expect(classifyAtr(undefined)).toBe('card');
    expect(classifyAtr(new Uint8Array(0))).toBe('card');
    expect(classifyAtr(ISO15693_TAG_ATR.subarray(0, 13))).toBe('card');
    const otherRid = Uint8Array.from(ISO15693_TAG_ATR);
    otherRid[11] = 0x07;
    expect(classifyAtr(otherRid)).toBe('card');
    expect(classifyAtr(Uint8Array.from([...ISO15693_TAG_ATR, 0x00]))).toBe('card');
  });
});

/** A reader answering GET DATA with these bytes, counting the commands it was sent. */
function reader(answer: Uint8Array | Error) {
  const sent: Uint8Array[] = [];
  const transmit: Transmit = async (command) => {
    sent.push(command);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { sent, transmit };
}

describe("readTag: a tag's UID as the book's item id", () => {
  const uid = atr('E0 04 01 00 12 34 56 78');

  it('reads the UID with one GET DATA and no SELECT, written E0 first', async () => {
    const { sent, transmit } = reader(withStatus(uid, SW.OK));
    expect(await readTag(transmit)).toMatchObject({ itemId: 'E004010012345678', apdus: 1 });
    expect(sent).toEqual([GET_UID]);
  });

  it('turns a UID the reader gives least significant byte first around', async () => {
    const { transmit } = reader(withStatus(Uint8Array.from(uid).reverse(), SW.OK));
    expect((await readTag(transmit)).itemId).toBe('E004010012345678');
  });

  it('keeps a UID with no E0 at either end as the reader gave it', async () => {
    const { transmit } = reader(withStatus(atr('01 02 03 04 05 06 07 08'), SW.OK));
    expect((await readTag(transmit)).itemId).toBe('0102030405060708');
  });

  it('fails cleanly on a wrong length, an error status, garbage or a tag taken away', async () => {
    const cases: [Uint8Array | Error, string][] = [
      [withStatus(atr('E0 04 01 00 12 34 56'), SW.OK), 'card-unreadable'],
      [withStatus(new Uint8Array(0), 0x6a81), 'card-unreadable'],
      [Uint8Array.of(0x90), 'card-unreadable'],
      [new CardRemovedError('card removed'), 'card-removed'],
      [new Error('transmit failed'), 'card-unreadable'],
    ];
    for (const [answer, failure] of cases) {
      const read = await readTag(reader(answer).transmit);
      expect(read).toMatchObject({ itemId: '', failure });
      expect(read.detail).toBeTruthy();
    }
  });
});
