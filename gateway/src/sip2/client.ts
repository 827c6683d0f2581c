import type { Logger } from 'pino';
import {
  type AcsStatus,
  type CheckinResult,
  type CheckoutResult,
  type ItemInformation,
  type PatronInformation,
  type RenewResult,
  readCharge,
  readCheckin,
  readItemInformation,
  readPatron,
  readStatus,
} from './answers.js';
import { Sip2Config, type Sip2ConfigInput } from './config.js';
import { Sip2Connection, type Sip2Exchange } from './connection.js';
import { formatSipDate } from './dates.js';
import { Sip2LoginRefused } from './errors.js';
import {
  type CheckinRequest,
  type CheckoutRequest,
  checkinMessage,
  checkoutMessage,
  itemInformationMessage,
  loginMessage,
  type MessageContext,
  type PatronOptions,
  patronInformationMessage,
  patronStatusMessage,
  type RenewRequest,
  renewMessage,
  statusMessage,
} from './messages.js';
import type { Sip2Connect } from './socket.js';

export interface Sip2ClientOptions {
  config: Sip2ConfigInput;
  logger?: Logger;
  /** The clock for transaction dates (tests). */
  now?: () => number;
  /** Opens the stream to the library system: TCP or TLS from the config by default. */
  connect?: Sip2Connect;
}

/**
 * A SIP2 client (the SC) talking to one library system (the ACS): login (93) and status (99) on
 * connecting, then the circulation requests, each built by `messages.ts` and read by `answers.ts` over
 * one {@link Sip2Connection}. Failures to reach the system are {@link Sip2Unavailable}; a refusal is an
 * answer with `ok: false` and the system's screen messages.
 */
export class Sip2Client {
  readonly config: Sip2Config;
  private readonly log: Logger | undefined;
  private readonly timeZone: string;
  private readonly messages: MessageContext;
  private readonly connection: Sip2Connection;
  private acs: AcsStatus | undefined;

  constructor(options: Sip2ClientOptions) {
    this.config = Sip2Config.parse(options.config);
    this.log = options.logger?.child({ component: 'sip2' });
    const now = options.now ?? Date.now;
    const timeZone = this.config.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
    this.timeZone = timeZone;
    this.messages = { config: this.config, date: (at) => formatSipDate(at ?? now(), timeZone) };
    this.connection = new Sip2Connection({
      config: this.config,
      handshake: (exchange) => this.logIn(exchange),
      ...(options.connect ? { connect: options.connect } : {}),
      ...(this.log ? { logger: this.log } : {}),
    });
  }

  /** The last status the system sent (at connecting or from {@link status}). */
  get acsStatus(): AcsStatus | undefined {
    return this.acs;
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  /** Connects and logs in now, rather than on the first request. */
  async connect(): Promise<AcsStatus> {
    await this.connection.open();
    return this.acs as AcsStatus;
  }

  /** SC status (99) → ACS status (98): whether the system is on line and what it supports. */
  async status(): Promise<AcsStatus> {
    this.acs = readStatus(await this.connection.request(statusMessage(), true), this.timeZone);
    return this.acs;
  }

  /**
   * The patron, by 63 (patron information) or 23 (patron status), as configured or as the system
   * supports. `list: 'charged'` asks 63 for the patron's charged items too.
   */
  async patron(patronId: string, options: PatronOptions = {}): Promise<PatronInformation> {
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
    options: Pick<PatronOptions, 'patronPassword'> = {},
  ): Promise<PatronInformation> {
    const reply = await this.connection.request(patronStatusMessage(this.messages, patronId, options), true);
    return readPatron(reply, patronId);
  }

  /** Patron information (63 → 64), with the list of charged or overdue items when asked. */
  async patronInformation(patronId: string, options: PatronOptions = {}): Promise<PatronInformation> {
    const reply = await this.connection.request(
      patronInformationMessage(this.messages, patronId, options),
      true,
    );
    return readPatron(reply, patronId);
  }

  /** Checkout (11 → 12). With `noBlock`, an offline checkout the system must accept, due `nbDueDate`. */
  async checkout(request: CheckoutRequest): Promise<CheckoutResult> {
    const reply = await this.connection.request(checkoutMessage(this.messages, request), false);
    return readCharge(reply, request.itemId, this.timeZone);
  }

  /** Checkin (09 → 10). With `noBlock` and `at`, a return the station took while off line. */
  async checkin(request: CheckinRequest): Promise<CheckinResult> {
    const reply = await this.connection.request(checkinMessage(this.messages, request), false);
    return readCheckin(reply, request.itemId, this.timeZone);
  }

  /** Renew (29 → 30). */
  async renew(request: RenewRequest): Promise<RenewResult> {
    const reply = await this.connection.request(renewMessage(this.messages, request), false);
    return readCharge(reply, request.itemId, this.timeZone);
  }

  /** Item information (17 → 18): whether an item is charged, and its due date. */
  async itemInformation(itemId: string): Promise<ItemInformation> {
    const reply = await this.connection.request(itemInformationMessage(this.messages, itemId), true);
    return readItemInformation(reply, itemId, this.timeZone);
  }

  /** Closes the connection; later requests fail with Sip2Unavailable('offline'). */
  close(): Promise<void> {
    return this.connection.close();
  }

  private async logIn(exchange: Sip2Exchange): Promise<void> {
    const login = await exchange(loginMessage(this.config));
    if (login.fixed.ok !== '1') {
      throw new Sip2LoginRefused(`the library system refused the SIP2 login of "${this.config.user}"`);
    }
    this.acs = readStatus(await exchange(statusMessage()), this.timeZone);
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
}
