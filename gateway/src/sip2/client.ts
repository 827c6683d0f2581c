import { readFile } from 'node:fs/promises';
import { isIP, type Socket, connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SerialQueue } from '@educard/terminal-sdk';
import type { Logger } from 'pino';
import {
  decodeMessage,
  encodeFrame,
  FIELD,
  FrameReader,
  fieldOf,
  fieldsOf,
  RESPONSE_CODE,
  type Sip2Message,
  type Sip2RequestCode,
} from './codec.js';
import { Sip2Config, type Sip2ConfigInput } from './config.js';
import { formatSipDate, parseDueDate, parseSipDate } from './dates.js';
import { Sip2ChecksumError, Sip2Error, Sip2LoginRefused, Sip2Unavailable } from './errors.js';

export interface Sip2ClientOptions {
  config: Sip2ConfigInput;
  logger?: Logger;
  /** The clock for transaction dates (tests). */
  now?: () => number;
}

/** What the library system said besides its answer: screen messages (AF) and print lines (AG). */
export interface Sip2Answer {
  screenMessages: string[];
  printLines: string[];
  /** The whole answer, for fields we do not map. */
  raw: Sip2Message;
}

const SUPPORTED = [
  'patronStatus',
  'checkout',
  'checkin',
  'blockPatron',
  'status',
  'resend',
  'login',
  'patronInformation',
  'endPatronSession',
  'feePaid',
  'itemInformation',
  'itemStatusUpdate',
  'patronEnable',
  'hold',
  'renew',
  'renewAll',
] as const;
export type Sip2Operation = (typeof SUPPORTED)[number];

/** The library system's answer to SC status (98). */
export interface AcsStatus extends Sip2Answer {
  online: boolean;
  checkinOk: boolean;
  checkoutOk: boolean;
  /** Whether the system lets the station renew on its own (the SC renewal policy). */
  renewalPolicy: boolean;
  statusUpdateOk: boolean;
  offlineOk: boolean;
  /** Tenths of a second the system waits for the station, or undefined. */
  timeoutPeriod?: number;
  retriesAllowed?: number;
  dateTimeSync?: Date;
  protocolVersion: string;
  institutionId?: string;
  libraryName?: string;
  /** The messages the system supports (BX); all true when it does not say. */
  supports: Record<Sip2Operation, boolean>;
}

const PATRON_FLAGS = [
  'chargePrivilegesDenied',
  'renewalPrivilegesDenied',
  'recallPrivilegesDenied',
  'holdPrivilegesDenied',
  'cardReportedLost',
  'tooManyItemsCharged',
  'tooManyItemsOverdue',
  'tooManyRenewals',
  'tooManyClaimsOfItemsReturned',
  'tooManyItemsLost',
  'excessiveOutstandingFines',
  'excessiveOutstandingFees',
  'recallOverdue',
  'tooManyItemsBilled',
] as const;
export type PatronFlag = (typeof PATRON_FLAGS)[number];

/** A patron as 24 (patron status) or 64 (patron information) tells it. */
export interface PatronInformation extends Sip2Answer {
  patronId: string;
  /** BL: whether the system knows the patron; undefined when it does not say. */
  valid?: boolean;
  /** CQ, when a patron password was sent. */
  validPassword?: boolean;
  name?: string;
  /** The 14 patron status flags that are set. */
  flags: PatronFlag[];
  /** Whether the system would refuse this patron a checkout (charge privileges denied, card lost). */
  blocked: boolean;
  chargedCount?: number;
  overdueCount?: number;
  holdCount?: number;
  fineCount?: number;
  chargedLimit?: number;
  /** AU (charged) and AT (overdue) item ids, when asked for with `list`. */
  chargedItems: string[];
  overdueItems: string[];
  feeAmount?: string;
  currency?: string;
  email?: string;
  phone?: string;
}

export interface CirculationResult extends Sip2Answer {
  ok: boolean;
  itemId: string;
  patronId?: string;
  title?: string;
  /** The due date, where the system sent one we can read; `dueDateText` as sent. */
  dueDate?: Date;
  dueDateText?: string;
  transactionId?: string;
}

export interface CheckoutResult extends CirculationResult {
  renewalOk: boolean;
}
export type RenewResult = CheckoutResult;

export interface CheckinResult extends CirculationResult {
  alert: boolean;
  permanentLocation?: string;
  sortBin?: string;
}

export interface ItemInformation extends Sip2Answer {
  itemId: string;
  /** 01 other … 03 available, 04 charged, … 13 lost (the spec's circulation status). */
  circulationStatus: string;
  title?: string;
  dueDate?: Date;
  dueDateText?: string;
}

/** An offline transaction carried out at the station while the system was unreachable. */
interface OfflineFields {
  /** Tells the system the station already did it while it was off line: it must not refuse. */
  noBlock?: boolean;
  /** When it happened; now by default. */
  at?: Date;
}

export interface CheckoutRequest extends OfflineFields {
  patronId: string;
  itemId: string;
  patronPassword?: string;
  /** The due date the station gave, for a `noBlock` checkout. */
  nbDueDate?: Date;
  feeAcknowledged?: boolean;
}

export interface CheckinRequest extends OfflineFields {
  itemId: string;
}

export interface RenewRequest extends OfflineFields {
  patronId: string;
  itemId: string;
  patronPassword?: string;
  nbDueDate?: Date;
}

type Waiter = { resolve: (frame: Buffer) => void; reject: (error: Error) => void };

const yes = (flag: string | undefined) => flag === 'Y' || flag === '1';
const count = (text: string | undefined) => {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  return Number(text);
};
const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

/**
 * A SIP2 client (the SC) talking to one library system (the ACS) over one TCP or TLS connection:
 * login (93) and status (99) on connecting, then one request at a time, each waiting for its answer
 * (SIP2 is strictly request/response). A frame with a bad checksum is asked for again (97), a 96 from
 * the system sends ours again; a request without answer in `timeoutMs` drops the connection, and the
 * next request connects again. Failures to reach the system are {@link Sip2Unavailable}; a refusal is
 * an answer with `ok: false` and the system's screen messages.
 */
export class Sip2Client {
  readonly config: Sip2Config;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly timeZone: string;
  private socket: Socket | undefined;
  private loggedIn = false;
  private frames = new FrameReader();
  private inbox: Buffer[] = [];
  private waiter: Waiter | undefined;
  private streamError: Error | undefined;
  private sequence = 0;
  private readonly queue = new SerialQueue();
  private closed = false;
  private acs: AcsStatus | undefined;

  constructor(options: Sip2ClientOptions) {
    this.config = Sip2Config.parse(options.config);
    this.log = options.logger?.child({ component: 'sip2' });
    this.now = options.now ?? Date.now;
    this.timeZone = this.config.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
  }

  /** The last status the system sent (at connecting or from {@link status}). */
  get acsStatus(): AcsStatus | undefined {
    return this.acs;
  }

  get connected(): boolean {
    return this.loggedIn && this.socket !== undefined && !this.socket.destroyed;
  }

  /** Connects and logs in now, rather than on the first request. */
  connect(): Promise<AcsStatus> {
    return this.queue.run(async () => {
      await this.session();
      return this.acs as AcsStatus;
    });
  }

  /** SC status (99) → ACS status (98): whether the system is on line and what it supports. */
  async status(): Promise<AcsStatus> {
    const reply = await this.request(this.statusMessage(), true);
    this.acs = this.readStatus(reply);
    return this.acs;
  }

  /**
   * The patron, by 63 (patron information) or 23 (patron status), as configured or as the system
   * supports. `list: 'charged'` asks 63 for the patron's charged items too.
   */
  async patron(
    patronId: string,
    options: { patronPassword?: string; list?: 'charged' | 'overdue' } = {},
  ): Promise<PatronInformation> {
    const mode = this.config.patronRequest;
    if (mode === 'status') return this.patronStatus(patronId, options);
    if (mode === 'auto') {
      if (!this.acs) await this.connect();
      if (this.acs && !this.acs.supports.patronInformation && this.acs.supports.patronStatus) {
        return this.patronStatus(patronId, options);
      }
    }
    return this.patronInformation(patronId, options);
  }

  /** Patron status (23 → 24). */
  async patronStatus(
    patronId: string,
    options: { patronPassword?: string } = {},
  ): Promise<PatronInformation> {
    const reply = await this.request(
      {
        code: '23',
        fixed: { language: '000', transactionDate: this.date() },
        fields: [
          [FIELD.institutionId, this.config.institution],
          [FIELD.patronId, patronId],
          [FIELD.terminalPassword, this.config.terminalPassword ?? ''],
          [FIELD.patronPassword, options.patronPassword ?? ''],
        ],
      },
      true,
    );
    return this.readPatron(reply, patronId);
  }

  /** Patron information (63 → 64), with the list of charged or overdue items when asked. */
  async patronInformation(
    patronId: string,
    options: { patronPassword?: string; list?: 'charged' | 'overdue' } = {},
  ): Promise<PatronInformation> {
    const summary = [' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '];
    if (options.list === 'overdue') summary[1] = 'Y';
    if (options.list === 'charged') summary[2] = 'Y';
    const fields: [string, string][] = [
      [FIELD.institutionId, this.config.institution],
      [FIELD.patronId, patronId],
    ];
    if (this.config.terminalPassword !== undefined)
      fields.push([FIELD.terminalPassword, this.config.terminalPassword]);
    if (options.patronPassword !== undefined) fields.push([FIELD.patronPassword, options.patronPassword]);
    if (options.list) fields.push(['BP', '1'], ['BQ', '9999']);
    const reply = await this.request(
      {
        code: '63',
        fixed: { language: '000', transactionDate: this.date(), summary: summary.join('') },
        fields,
      },
      true,
    );
    return this.readPatron(reply, patronId);
  }

  /** Checkout (11 → 12). With `noBlock`, an offline checkout the system must accept, due `nbDueDate`. */
  checkout(request: CheckoutRequest): Promise<CheckoutResult> {
    const fields: [string, string][] = [
      [FIELD.institutionId, this.config.institution],
      [FIELD.patronId, request.patronId],
      [FIELD.itemId, request.itemId],
      [FIELD.terminalPassword, this.config.terminalPassword ?? ''],
    ];
    if (request.patronPassword !== undefined) fields.push([FIELD.patronPassword, request.patronPassword]);
    if (request.feeAcknowledged !== undefined)
      fields.push([FIELD.feeAcknowledged, request.feeAcknowledged ? 'Y' : 'N']);
    return this.charge('11', { scRenewalPolicy: 'N' }, request, fields);
  }

  /** Checkin (09 → 10). With `noBlock` and `at`, a return the station took while off line. */
  async checkin(request: CheckinRequest): Promise<CheckinResult> {
    const at = this.date(request.at);
    const reply = await this.request(
      {
        code: '09',
        fixed: { noBlock: request.noBlock ? 'Y' : 'N', transactionDate: at, returnDate: at },
        fields: [
          [FIELD.currentLocation, this.config.location ?? ''],
          [FIELD.institutionId, this.config.institution],
          [FIELD.itemId, request.itemId],
          [FIELD.terminalPassword, this.config.terminalPassword ?? ''],
        ],
      },
      false,
    );
    return {
      ...this.readCirculation(reply, request.itemId),
      alert: yes(reply.fixed.alert),
      ...optional('permanentLocation', fieldOf(reply, FIELD.permanentLocation)),
      ...optional('sortBin', fieldOf(reply, FIELD.sortBin)),
    };
  }

  /** Renew (29 → 30). */
  renew(request: RenewRequest): Promise<RenewResult> {
    const fields: [string, string][] = [
      [FIELD.institutionId, this.config.institution],
      [FIELD.patronId, request.patronId],
    ];
    if (request.patronPassword !== undefined) fields.push([FIELD.patronPassword, request.patronPassword]);
    fields.push([FIELD.itemId, request.itemId], [FIELD.terminalPassword, this.config.terminalPassword ?? '']);
    return this.charge('29', { thirdPartyAllowed: 'N' }, request, fields);
  }

  /**
   * Checkout and renew differ only in their policy flag and their fields' order (each as the standard
   * lists it): both may be no-block with a due date, and both answer a circulation with `renewalOk`.
   */
  private async charge(
    code: '11' | '29',
    policy: Record<string, string>,
    request: RenewRequest,
    fields: [string, string][],
  ): Promise<CheckoutResult> {
    const reply = await this.request(
      {
        code,
        fixed: {
          ...policy,
          noBlock: request.noBlock ? 'Y' : 'N',
          transactionDate: this.date(request.at),
          nbDueDate: request.nbDueDate ? this.date(request.nbDueDate) : ' '.repeat(18),
        },
        fields,
      },
      false,
    );
    return { ...this.readCirculation(reply, request.itemId), renewalOk: yes(reply.fixed.renewalOk) };
  }

  /** Item information (17 → 18): whether an item is charged, and its due date. */
  async itemInformation(itemId: string): Promise<ItemInformation> {
    const fields: [string, string][] = [
      [FIELD.institutionId, this.config.institution],
      [FIELD.itemId, itemId],
    ];
    if (this.config.terminalPassword !== undefined)
      fields.push([FIELD.terminalPassword, this.config.terminalPassword]);
    const reply = await this.request({ code: '17', fixed: { transactionDate: this.date() }, fields }, true);
    const dueDateText = fieldOf(reply, FIELD.dueDate);
    const dueDate = dueDateText ? parseDueDate(dueDateText, this.timeZone) : undefined;
    return {
      ...this.answer(reply),
      itemId: fieldOf(reply, FIELD.itemId) ?? itemId,
      circulationStatus: reply.fixed.circulationStatus ?? '',
      ...optional('title', fieldOf(reply, FIELD.titleId)),
      ...optional('dueDate', dueDate),
      ...optional('dueDateText', dueDateText || undefined),
    };
  }

  /** Closes the connection; later requests fail with Sip2Unavailable('offline'). */
  async close(): Promise<void> {
    this.closed = true;
    this.drop(new Sip2Unavailable('the SIP2 client was closed', 'offline'));
    await this.queue.idle();
  }

  // — one request at a time —

  /**
   * Sends one request and waits for its answer, connecting first when needed. A request that never
   * reached the system is tried again (`retries`); one that may have reached it only when it is a
   * read (`idempotent`), since a checkout sent twice might be carried out twice.
   */
  private request(message: Sip2Message, idempotent: boolean): Promise<Sip2Message> {
    return this.queue.run(async () => {
      for (let attempt = 0; ; attempt++) {
        let written = false;
        try {
          await this.session();
          written = true;
          return await this.exchange(message);
        } catch (caught) {
          let error = caught;
          // A failure while connecting or logging in never sent this request.
          if (error instanceof Sip2Unavailable && error.sent && !written) {
            error = new Sip2Unavailable(error.message, error.reason, false, { cause: error.cause });
          }
          const again =
            error instanceof Sip2Unavailable &&
            error.reason !== 'offline' &&
            (!error.sent || idempotent) &&
            attempt < this.config.retries;
          if (!again) throw error;
          this.log?.warn({ err: error, code: message.code, attempt: attempt + 1 }, 'SIP2 request sent again');
        }
      }
    });
  }

  private async session(): Promise<void> {
    if (this.closed) throw new Sip2Unavailable('the SIP2 client was closed', 'offline');
    if (this.connected) return;
    this.drop();
    await this.open();
    const login = await this.exchange({
      code: '93',
      fixed: { uidAlgorithm: '0', pwdAlgorithm: '0' },
      fields: [
        [FIELD.loginUserId, this.config.user],
        [FIELD.loginPassword, this.config.password],
        ...(this.config.location !== undefined
          ? [[FIELD.locationCode, this.config.location] as [string, string]]
          : []),
      ],
    });
    if (login.fixed.ok !== '1') {
      this.drop();
      throw new Sip2LoginRefused(`the library system refused the SIP2 login of "${this.config.user}"`);
    }
    this.loggedIn = true;
    this.acs = this.readStatus(await this.exchange(this.statusMessage()));
    this.log?.info(
      {
        host: this.config.host,
        port: this.config.port,
        online: this.acs.online,
        version: this.acs.protocolVersion,
      },
      'SIP2 session open',
    );
  }

  private async open(): Promise<void> {
    const { host, port, tls, timeoutMs } = this.config;
    let secure: Record<string, unknown> | undefined;
    if (tls) {
      const read = (path: string | undefined) => (path ? readFile(path) : Promise.resolve(undefined));
      let files: (Buffer | undefined)[];
      try {
        files = await Promise.all([read(tls.ca), read(tls.cert), read(tls.key)]);
      } catch (error) {
        throw new Sip2Error(`cannot read the SIP2 TLS files: ${(error as Error).message}`, { cause: error });
      }
      const [ca, cert, key] = files;
      secure = {
        rejectUnauthorized: tls.rejectUnauthorized,
        ...optional('ca', ca),
        ...optional('cert', cert),
        ...optional('key', key),
        ...optional('servername', tls.servername ?? (isIP(host) ? undefined : host)),
      };
    }
    const socket = secure ? tlsConnect({ host, port, ...secure }) : tcpConnect({ host, port });
    this.socket = socket;
    this.frames = new FrameReader();
    this.inbox = [];
    this.streamError = undefined;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      let frames: Buffer[];
      try {
        frames = this.frames.push(chunk);
      } catch (error) {
        this.drop(new Sip2Unavailable('the library system sent garbage', 'protocol', true, { cause: error }));
        return;
      }
      for (const frame of frames) this.deliver(frame);
    });
    socket.on('error', (error) => {
      if (this.socket === socket) this.streamError = error;
    });
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.drop(
        new Sip2Unavailable(
          `the SIP2 connection closed${this.streamError ? `: ${this.streamError.message}` : ''}`,
          'closed',
          true,
          { cause: this.streamError },
        ),
      );
    });
    await new Promise<void>((resolve, reject) => {
      const ready = secure ? 'secureConnect' : 'connect';
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.off(ready, done);
        socket.destroy();
        if (this.socket === socket) this.socket = undefined;
        reject(
          new Sip2Unavailable(
            `cannot reach the library system at ${host}:${port}: ${error.message}`,
            'connect',
            false,
            { cause: error },
          ),
        );
      };
      const done = () => {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve();
      };
      const timer = setTimeout(() => fail(new Error(`no connection in ${timeoutMs} ms`)), timeoutMs);
      socket.once(ready, done);
      socket.once('error', fail);
    });
  }

  /** Ends the connection; a request waiting for an answer fails with `error`. */
  private drop(error?: Error): void {
    const socket = this.socket;
    this.socket = undefined;
    this.loggedIn = false;
    this.inbox = [];
    socket?.destroy();
    const waiter = this.waiter;
    this.waiter = undefined;
    if (waiter)
      waiter.reject(error ?? new Sip2Unavailable('the SIP2 connection was dropped', 'closed', true));
  }

  private deliver(frame: Buffer): void {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter.resolve(frame);
    } else {
      this.inbox.push(frame);
    }
  }

  private nextFrame(): Promise<Buffer> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    const socket = this.socket;
    if (!socket || socket.destroyed) {
      return Promise.reject(new Sip2Unavailable('the SIP2 connection closed', 'closed', true));
    }
    const { timeoutMs } = this.config;
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.waiter !== waiter) return;
        this.waiter = undefined;
        // The answer may still come: the stream is out of step, so start again on a new connection.
        this.drop();
        reject(new Sip2Unavailable(`no answer from the library system in ${timeoutMs} ms`, 'timeout', true));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (frame) => {
          clearTimeout(timer);
          resolve(frame);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiter = waiter;
    });
  }

  private write(frame: Buffer): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) throw new Sip2Unavailable('the SIP2 connection closed', 'closed', false);
    socket.write(frame);
  }

  /** One request and its answer on the open connection, with resends on bad checksums. */
  private async exchange(message: Sip2Message): Promise<Sip2Message> {
    const expected = RESPONSE_CODE[message.code as Sip2RequestCode];
    const sequence = this.sequence;
    this.sequence = (this.sequence + 1) % 10;
    const { errorDetection, encoding, retries } = this.config;
    const frame = encodeFrame({ ...message, sequence }, { errorDetection, encoding });
    this.inbox = [];
    this.write(frame);
    this.log?.debug({ code: message.code, sequence }, 'SIP2 request');
    let resends = 0;
    for (;;) {
      const raw = await this.nextFrame();
      let reply: Sip2Message;
      try {
        reply = decodeMessage(raw, { encoding });
      } catch (error) {
        if (error instanceof Sip2ChecksumError && errorDetection && resends < retries) {
          resends++;
          this.log?.warn(
            { code: message.code, sequence },
            'SIP2 answer with a bad checksum: asking for it again',
          );
          this.write(encodeFrame({ code: '97', fixed: {}, fields: [] }, { errorDetection, encoding }));
          continue;
        }
        const failure = new Sip2Unavailable(
          `unreadable answer from the library system: ${(error as Error).message}`,
          'protocol',
          true,
          { cause: error },
        );
        this.drop(failure);
        throw failure;
      }
      if (reply.code === '96') {
        if (resends < retries) {
          resends++;
          this.log?.warn({ code: message.code, sequence }, 'the library system asked for our request again');
          this.write(frame);
          continue;
        }
        const failure = new Sip2Unavailable(
          'the library system kept asking for our request again',
          'protocol',
          true,
        );
        this.drop(failure);
        throw failure;
      }
      if (
        reply.code !== expected ||
        (errorDetection && reply.sequence !== undefined && reply.sequence !== sequence)
      ) {
        const failure = new Sip2Unavailable(
          `the library system answered ${message.code} (AY${sequence}) with ${reply.code}${
            reply.sequence === undefined ? '' : ` (AY${reply.sequence})`
          }`,
          'protocol',
          true,
        );
        this.drop(failure);
        throw failure;
      }
      this.log?.debug({ code: reply.code, sequence }, 'SIP2 answer');
      return reply;
    }
  }

  // — messages and answers —

  private date(at?: Date | number): string {
    return formatSipDate(at ?? this.now(), this.timeZone);
  }

  private statusMessage(): Sip2Message {
    return {
      code: '99',
      fixed: { statusCode: '0', maxPrintWidth: '080', protocolVersion: '2.00' },
      fields: [],
    };
  }

  private answer(reply: Sip2Message): Sip2Answer {
    return {
      screenMessages: fieldsOf(reply, FIELD.screenMessage).filter((text) => text.trim() !== ''),
      printLines: fieldsOf(reply, FIELD.printLine).filter((text) => text.trim() !== ''),
      raw: reply,
    };
  }

  private readStatus(reply: Sip2Message): AcsStatus {
    const f = reply.fixed;
    const bx = fieldOf(reply, FIELD.supportedMessages);
    const supports = Object.fromEntries(
      SUPPORTED.map((name, index) => [name, bx === undefined || bx.length <= index || yes(bx[index])]),
    ) as Record<Sip2Operation, boolean>;
    const dateTimeSync = parseSipDate(f.dateTimeSync ?? '', this.timeZone);
    return {
      ...this.answer(reply),
      online: yes(f.onlineStatus),
      checkinOk: yes(f.checkinOk),
      checkoutOk: yes(f.checkoutOk),
      renewalPolicy: yes(f.acsRenewalPolicy),
      statusUpdateOk: yes(f.statusUpdateOk),
      offlineOk: yes(f.offlineOk),
      ...optional('timeoutPeriod', count(f.timeoutPeriod)),
      ...optional('retriesAllowed', count(f.retriesAllowed)),
      ...optional('dateTimeSync', dateTimeSync),
      protocolVersion: f.protocolVersion ?? '',
      ...optional('institutionId', fieldOf(reply, FIELD.institutionId)),
      ...optional('libraryName', fieldOf(reply, FIELD.libraryName)),
      supports,
    };
  }

  private readPatron(reply: Sip2Message, patronId: string): PatronInformation {
    const f = reply.fixed;
    const status = f.patronStatus ?? '';
    const flags = PATRON_FLAGS.filter((_, index) => yes(status[index]));
    const bl = fieldOf(reply, FIELD.validPatron);
    const cq = fieldOf(reply, FIELD.validPatronPassword);
    return {
      ...this.answer(reply),
      patronId: fieldOf(reply, FIELD.patronId) ?? patronId,
      ...optional('valid', bl === undefined ? undefined : yes(bl)),
      ...optional('validPassword', cq === undefined ? undefined : yes(cq)),
      ...optional('name', fieldOf(reply, FIELD.personalName) || undefined),
      flags,
      blocked: flags.includes('chargePrivilegesDenied') || flags.includes('cardReportedLost'),
      ...optional('chargedCount', count(f.chargedItemsCount)),
      ...optional('overdueCount', count(f.overdueItemsCount)),
      ...optional('holdCount', count(f.holdItemsCount)),
      ...optional('fineCount', count(f.fineItemsCount)),
      ...optional('chargedLimit', count(fieldOf(reply, FIELD.chargedItemsLimit))),
      chargedItems: fieldsOf(reply, FIELD.chargedItems),
      overdueItems: fieldsOf(reply, FIELD.overdueItems),
      ...optional('feeAmount', fieldOf(reply, FIELD.feeAmount) || undefined),
      ...optional('currency', fieldOf(reply, FIELD.currencyType) || undefined),
      ...optional('email', fieldOf(reply, FIELD.email) || undefined),
      ...optional('phone', fieldOf(reply, FIELD.homePhone) || undefined),
    };
  }

  private readCirculation(reply: Sip2Message, itemId: string): CirculationResult {
    const dueDateText = fieldOf(reply, FIELD.dueDate);
    const dueDate = dueDateText ? parseDueDate(dueDateText, this.timeZone) : undefined;
    return {
      ...this.answer(reply),
      ok: reply.fixed.ok === '1',
      itemId: fieldOf(reply, FIELD.itemId) || itemId,
      ...optional('patronId', fieldOf(reply, FIELD.patronId) || undefined),
      ...optional('title', fieldOf(reply, FIELD.titleId) || undefined),
      ...optional('dueDate', dueDate),
      ...optional('dueDateText', dueDateText || undefined),
      ...optional('transactionId', fieldOf(reply, FIELD.transactionId) || undefined),
    };
  }
}
