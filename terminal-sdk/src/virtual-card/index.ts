import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { STORAGE_CARD_NAME, STORAGE_STANDARD, storageCardAtr } from '../card-profile/atr.js';
import {
  CHALLENGE_BYTES,
  cardAuthMessage,
  EDU_AID,
  encodeAuthResponse,
  SW,
  withStatus,
} from '../card-profile/edu-card.js';
import { concatBytes, encodeTlv } from '../card-profile/tlv.js';
import { ed25519 } from '../crypto/ed25519.js';

/**
 * vsmartcard's vpcd: the first virtual reader listens here; the second on the next port. Not
 * Debian's 35963: that is inside Linux's ephemeral range (32768-60999), and on a busy host an
 * outgoing connection sometimes held it when pcscd started (`Address already in use`, no readers).
 * The pcscd that scripts start is configured with this one (startPcscd); against Debian's own
 * configuration, give the virtual card `--port 35963`.
 */
export const VPCD_PORT = 29963;

/** Faults a card can play, after the real failures of contactless cards. */
export type VirtualCardFault =
  | 'none'
  /** Answers AUTHENTICATE with random bytes. */
  | 'garbage'
  /** Leaves the field while AUTHENTICATE is in flight: the connection drops unanswered. */
  | 'removed-mid-exchange'
  /** Signs with a key that is not the one its certificate and the roster name. */
  | 'wrong-key';

export interface EduApplet {
  cardNumber: string;
  /** The 32-byte seed of the card's Ed25519 key. */
  seed: Uint8Array;
  /** The `7F21` certificate element (issueCardCertificate). */
  certificate: Uint8Array;
}

export interface VirtualCardOptions {
  /**
   * The UID the reader reports through GET DATA: 4, 7 or 10 bytes; for an ISO 15693 tag 8 bytes, most
   * significant first as a tag's UID is written (`E0`, the manufacturer, the serial number).
   */
  uid: Uint8Array;
  /** An EDU CPU card; without it, a UID-only card that knows no application. */
  edu?: EduApplet;
  /**
   * An ISO 15693 tag (a library book's) instead of a card: the reader's storage-card ATR for ISO 15693
   * part 3 (an ICODE SLI), and GET DATA answered with the 8-byte UID.
   */
  tag?: 'iso15693';
  /** A tag's UID in GET DATA least significant byte first, as some readers give it. */
  uidLsbFirst?: boolean;
  fault?: VirtualCardFault;
  /** Waits this long before each answer: a slow or half-coupled card. */
  delayMs?: number;
  /** Answers every APDU with this instead (fuzzing the gateway); undefined falls back to the card. */
  override?: (apdu: Uint8Array) => Uint8Array | undefined;
  host?: string;
  port?: number;
}

/** ISO 14443-4 type A as PC/SC part 3 builds the ATR for it, historical bytes "EDUCARD". */
const EDU_ATR = withTck([0x3b, 0x87, 0x80, 0x01, 0x45, 0x44, 0x55, 0x43, 0x41, 0x52, 0x44]);
/** A storage card's ATR as PC/SC part 3 gives it (here: MIFARE Classic 1K). */
const UID_ATR = storageCardAtr(STORAGE_STANDARD.ISO14443A_PART3, STORAGE_CARD_NAME.MIFARE_CLASSIC_1K);
/** An ISO 15693 tag's, as PC/SC part 3 gives it (here: NXP ICODE SLI, the usual book tag). */
export const ISO15693_TAG_ATR = storageCardAtr(STORAGE_STANDARD.ISO15693_PART3, STORAGE_CARD_NAME.ICODE_SLI);

function withTck(bytes: number[]): Uint8Array {
  return Uint8Array.from([...bytes, bytes.slice(1).reduce((x, b) => x ^ b, 0)]);
}

const status = (sw: number) => withStatus(new Uint8Array(0), sw);

/**
 * A contactless card on a vsmartcard virtual reader: it connects to vpcd inside pcscd, which then
 * reports a card present on that reader, and answers the APDUs the gateway sends through PC/SC.
 * Each message on the wire is a 2-byte big-endian length and the payload; a one-byte payload is a
 * control (0 power off, 1 power on, 2 reset, 4 get ATR), anything longer an APDU.
 */
export class VirtualCard {
  /** APDUs answered since the card was presented. */
  apdus = 0;
  private socket: Socket | undefined;
  private selected = false;

  constructor(readonly options: VirtualCardOptions) {
    if (options.tag) {
      if (options.uid.length !== 8) throw new RangeError("an ISO 15693 tag's UID is 8 bytes");
      if (options.edu) throw new RangeError('a tag carries no EDU application');
    } else if (![4, 7, 10].includes(options.uid.length)) throw new RangeError('a UID is 4, 7 or 10 bytes');
  }

  get present(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Puts the card on the reader. Resolves once vpcd has accepted the connection. */
  async presentCard(): Promise<void> {
    if (this.present) return;
    this.apdus = 0;
    this.selected = false;
    const socket = connect({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? VPCD_PORT });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        const message = new Uint8Array(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
        this.onMessage(socket, message);
      }
    });
    this.socket = socket;
  }

  /** Takes the card off the reader: vpcd sees the connection close and reports it removed. */
  async removeCard(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  private onMessage(socket: Socket, message: Uint8Array): void {
    if (message.length === 1) {
      // Power off, power on and reset need no answer; get ATR does.
      if (message[0] === 0x00 || message[0] === 0x02) this.selected = false;
      if (message[0] === 0x04) send(socket, this.atr());
      return;
    }
    this.apdus += 1;
    if (this.options.fault === 'removed-mid-exchange' && message[1] === 0x88) {
      socket.destroy();
      return;
    }
    const answer = this.options.override?.(message) ?? this.answer(message);
    const delay = this.options.delayMs ?? 0;
    if (delay > 0) setTimeout(() => send(socket, answer), delay);
    else send(socket, answer);
  }

  private atr(): Uint8Array {
    if (this.options.tag) return ISO15693_TAG_ATR;
    return this.options.edu ? EDU_ATR : UID_ATR;
  }

  /** The UID as the reader gives it in GET DATA. */
  private uidAnswer(): Uint8Array {
    const { uid, tag, uidLsbFirst } = this.options;
    return tag && uidLsbFirst ? Uint8Array.from(uid).reverse() : uid;
  }

  /** The card's answer to one command APDU. */
  answer(apdu: Uint8Array): Uint8Array {
    if (apdu.length < 4) return status(SW.WRONG_LENGTH);
    const [cla, ins, p1, p2] = apdu as unknown as [number, number, number, number];
    if (cla === 0xff && ins === 0xca) {
      // GET DATA is the reader's own command in PC/SC; vpcd hands it to the card, which plays the reader.
      return p1 === 0x00 ? withStatus(this.uidAnswer(), SW.OK) : status(SW.WRONG_P1P2);
    }
    if (cla === 0x00 && ins === 0xa4) return this.select(apdu, p1);
    if (ins === 0x88 && cla === 0x80) return this.authenticate(apdu, p1, p2);
    if (cla !== 0x00 && cla !== 0x80) return status(SW.CLA_NOT_SUPPORTED);
    return status(SW.INS_NOT_SUPPORTED);
  }

  private select(apdu: Uint8Array, p1: number): Uint8Array {
    const lc = apdu[4] ?? 0;
    const aid = apdu.subarray(5, 5 + lc);
    const ours = this.options.edu && p1 === 0x04 && Buffer.from(aid).equals(Buffer.from(EDU_AID));
    this.selected = Boolean(ours);
    if (!ours) return status(SW.APPLICATION_NOT_FOUND);
    return withStatus(encodeTlv(0x6f, encodeTlv(0x84, EDU_AID)), SW.OK);
  }

  private authenticate(apdu: Uint8Array, p1: number, p2: number): Uint8Array {
    const edu = this.options.edu;
    if (!edu || !this.selected) return status(SW.CONDITIONS_NOT_SATISFIED);
    if (p1 !== 0 || p2 !== 0) return status(SW.WRONG_P1P2);
    if (apdu[4] !== CHALLENGE_BYTES || apdu.length < 5 + CHALLENGE_BYTES) return status(SW.WRONG_LENGTH);
    if (this.options.fault === 'garbage') return concatBytes(randomBytes(40), Uint8Array.of(0x90, 0x00));
    const challenge = apdu.subarray(5, 5 + CHALLENGE_BYTES);
    const seed = this.options.fault === 'wrong-key' ? new Uint8Array(32).fill(0x55) : edu.seed;
    const signature = ed25519.sign(cardAuthMessage(challenge, edu.cardNumber), seed);
    return withStatus(encodeAuthResponse(edu.cardNumber, edu.certificate, signature), SW.OK);
  }
}

function send(socket: Socket, payload: Uint8Array): void {
  if (socket.destroyed) return;
  const frame = Buffer.alloc(2 + payload.length);
  frame.writeUInt16BE(payload.length, 0);
  frame.set(payload, 2);
  socket.write(frame);
}
