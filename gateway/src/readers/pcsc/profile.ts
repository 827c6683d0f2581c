import { randomBytes } from 'node:crypto';
import {
  authenticateCommand,
  type CardProof,
  CHALLENGE_BYTES,
  GET_UID,
  parseAuthResponse,
  parseStorageCardAtr,
  SELECT_EDU_APPLICATION,
  STORAGE_STANDARD,
  SW,
  splitResponse,
  TlvError,
} from '@educard/terminal-sdk';

/** Sends one command APDU and resolves with the whole response, status word included. */
export type Transmit = (command: Uint8Array) => Promise<Uint8Array>;

export class CardRemovedError extends Error {}
export class ExchangeTimeoutError extends Error {}

export interface CardRead {
  uid: string;
  proof?: CardProof;
  failure?: 'card-unreadable' | 'card-removed';
  /** Why the read failed, for the log. */
  detail?: string;
  apdus: number;
  /** Time spent waiting for the card's answers: what the reader and the card cost, not us. */
  waitedMs: number;
}

/** SELECT answered like this: not an EDU card, so a UID-only card (or another application's card). */
const NOT_OURS = new Set<number>([
  SW.APPLICATION_NOT_FOUND,
  SW.INS_NOT_SUPPORTED,
  SW.CLA_NOT_SUPPORTED,
  SW.WRONG_P1P2,
  0x6a81, // function not supported
  0x6999, // applet selection failed
  0x6e00,
]);

const UID_LENGTHS = new Set([4, 7, 10]);

/**
 * Reads one card in as few exchanges as the profile allows: SELECT the EDU application, then either
 * one AUTHENTICATE (an EDU CPU card) or one GET DATA for the UID (any other card). Two APDUs per tap
 * either way, unless `cpuCardUid` asks for a CPU card's UID too (a third): a venue, which has no
 * roster, remembers the UIDs of genuine cards to know a UID-only copy of one. Never throws: every
 * failure becomes `failure` with a reason the tap is denied for.
 */
export async function readCard(
  transmit: Transmit,
  options: { cpuCardUid?: boolean } = {},
): Promise<CardRead> {
  let apdus = 0;
  let waitedMs = 0;
  const send = async (command: Uint8Array) => {
    apdus += 1;
    const started = performance.now();
    try {
      return splitResponse(await transmit(command));
    } finally {
      waitedMs += performance.now() - started;
    }
  };
  const readUid = async () => {
    const uid = await send(GET_UID);
    if (uid.sw !== SW.OK || !UID_LENGTHS.has(uid.data.length))
      throw new TlvError(`GET DATA answered ${hexSw(uid.sw)} with ${uid.data.length} bytes`);
    return Buffer.from(uid.data).toString('hex').toUpperCase();
  };
  const failed = (error: unknown): CardRead => ({
    uid: '',
    failure: error instanceof CardRemovedError ? 'card-removed' : 'card-unreadable',
    detail: (error as Error).message,
    apdus,
    waitedMs,
  });
  try {
    const select = await send(SELECT_EDU_APPLICATION);
    if (select.sw === SW.OK) {
      const challenge = new Uint8Array(randomBytes(CHALLENGE_BYTES));
      const answer = await send(authenticateCommand(challenge));
      if (answer.sw !== SW.OK) throw new TlvError(`AUTHENTICATE answered ${hexSw(answer.sw)}`);
      const proof = parseAuthResponse(answer.data, challenge);
      return { uid: options.cpuCardUid ? await readUid() : '', proof, apdus, waitedMs };
    }
    if (!NOT_OURS.has(select.sw)) throw new TlvError(`SELECT answered ${hexSw(select.sw)}`);
    return { uid: await readUid(), apdus, waitedMs };
  } catch (error) {
    return failed(error);
  }
}

/** What the reader holds, told by the ATR it built: a card someone taps, or a book's ISO 15693 tag. */
export type Presented = 'card' | 'iso15693-tag';

const ISO15693 = new Set<number>([STORAGE_STANDARD.ISO15693_PART3, STORAGE_STANDARD.ISO15693_PART4]);

/**
 * An ISO 15693 tag is a storage card whose PC/SC part 3 ATR names ISO 15693 part 3 or 4 as its
 * standard; everything else (an ISO 14443 card, with or without the EDU application, a contact card,
 * no ATR at all) is read as a card, as before.
 */
export function classifyAtr(atr: Uint8Array | null | undefined): Presented {
  const storage = parseStorageCardAtr(atr);
  return storage && ISO15693.has(storage.standard) ? 'iso15693-tag' : 'card';
}

export interface TagRead {
  /** The tag's UID in hex, most significant byte first (`E0…`): the item id of the book it is on. */
  itemId: string;
  failure?: 'card-unreadable' | 'card-removed';
  detail?: string;
  apdus: number;
  waitedMs: number;
}

/** ISO/IEC 15693-3: the UID's most significant byte is always E0. */
const ISO15693_UID_MSB = 0xe0;

/**
 * Reads a tag's UID with one GET DATA (no SELECT: a tag has no applications). PC/SC part 3 does not
 * say in which order a reader gives an ISO 15693 UID, and readers differ; the UID's `E0` says which
 * end is the most significant, and the id is always written from there. Never throws.
 */
export async function readTag(transmit: Transmit): Promise<TagRead> {
  const started = performance.now();
  try {
    const answer = splitResponse(await transmit(GET_UID));
    const waitedMs = performance.now() - started;
    if (answer.sw !== SW.OK || answer.data.length !== 8)
      throw new TlvError(`GET DATA answered ${hexSw(answer.sw)} with ${answer.data.length} bytes`);
    const uid = Uint8Array.from(answer.data);
    if (uid[0] !== ISO15693_UID_MSB && uid[7] === ISO15693_UID_MSB) uid.reverse();
    return { itemId: Buffer.from(uid).toString('hex').toUpperCase(), apdus: 1, waitedMs };
  } catch (error) {
    return {
      itemId: '',
      failure: error instanceof CardRemovedError ? 'card-removed' : 'card-unreadable',
      detail: (error as Error).message,
      apdus: 1,
      waitedMs: performance.now() - started,
    };
  }
}

const hexSw = (sw: number) => sw.toString(16).toUpperCase().padStart(4, '0');
