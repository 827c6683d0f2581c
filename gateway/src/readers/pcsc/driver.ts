import { EventBus } from '../../events/index.js';
import type { Logger } from '../../log/index.js';
import type { CardPresented, ReaderDriver, ReaderEvents, ReaderStatus } from '../types.js';
import { loadSmartcard, type PcscBinding, type PcscCard, type PcscDevices } from './binding.js';
import {
  type CardRead,
  CardRemovedError,
  classifyAtr,
  ExchangeTimeoutError,
  readCard,
  readTag,
} from './profile.js';

export interface PcscDriverOptions {
  logger: Logger;
  /** The PC/SC binding: the `smartcard` package unless a test scripts one (MockPcscBinding). */
  binding?: () => Promise<PcscBinding>;
  /** Longest wait for one APDU's answer; past it the tap is denied as unreadable. */
  exchangeTimeoutMs?: number;
  /** How soon the binding is made again after pcscd has gone away. */
  recoveryMs?: number;
  /** Read an EDU CPU card's UID too (a third APDU): a venue's, which tells a UID-only copy by it. */
  cpuCardUid?: boolean;
  /** Called with each card read, for benchmarks and diagnostics. */
  onRead?: (read: CardRead & { reader: string; detectedAt: number; readAt: number }) => void;
}

/**
 * Readers through pcscd. Readers come and go at run time and are picked up when already plugged in
 * at start; each card is read on its own, the binding doing its I/O off the event loop, so a slow
 * card on one reader holds up nothing else. The binding does not recover once pcscd has gone (it
 * keeps reporting the service down, and misses cards after pcscd is back): this driver drops it and
 * makes it again, every `recoveryMs`, until the service answers.
 */
export class PcscReaderDriver implements ReaderDriver {
  readonly events: EventBus<ReaderEvents>;
  private readonly state = new Map<string, ReaderStatus>();
  private binding: PcscBinding | undefined;
  private devices: PcscDevices | undefined;
  private retry: NodeJS.Timeout | undefined;
  private running = false;
  private lastError: string | undefined;
  private readonly exchangeTimeoutMs: number;
  private readonly recoveryMs: number;

  constructor(private readonly options: PcscDriverOptions) {
    this.events = new EventBus(options.logger);
    this.exchangeTimeoutMs = options.exchangeTimeoutMs ?? 1000;
    this.recoveryMs = options.recoveryMs ?? 1000;
  }

  async start(): Promise<void> {
    this.running = true;
    try {
      this.binding = await (this.options.binding ?? loadSmartcard)();
    } catch (error) {
      this.fail(
        `the PC/SC binding is not installed (${(error as Error).message}): install libpcsclite-dev and run npm rebuild smartcard`,
      );
      return;
    }
    this.connect();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.retry);
    this.release();
  }

  readers(): ReaderStatus[] {
    const list = [...this.state.values()].map((status) => ({ ...status }));
    return list.length || !this.lastError
      ? list
      : [{ name: 'pcsc', connected: false, cardPresent: false, lastError: this.lastError }];
  }

  private connect(): void {
    if (!this.running || !this.binding) return;
    const devices = new this.binding.Devices();
    this.devices = devices;
    devices.on('reader-attached', (reader) => this.plug(reader.name));
    devices.on('reader-detached', (reader) => this.unplug(reader.name));
    devices.on('card-inserted', ({ reader, card }) => {
      this.read(reader.name, card, card.atr ?? reader.atr).catch((error: unknown) =>
        this.options.logger.error({ reader: reader.name, err: error }, 'card read failed unexpectedly'),
      );
    });
    devices.on('card-removed', ({ reader }) => {
      const status = this.state.get(reader.name);
      if (status?.cardPresent) {
        status.cardPresent = false;
        this.events.emit('card-removed', { reader: reader.name });
      }
    });
    devices.on('error', (error) => this.onBindingError(error));
    devices.start();
    // Readers plugged in before start: some binding versions announce them, some do not.
    setImmediate(() => {
      if (this.devices !== devices) return;
      try {
        for (const reader of devices.listReaders()) this.plug(reader.name);
      } catch {
        // The service is down: the error event says so and recovery takes over.
      }
    });
  }

  private onBindingError(error: Error): void {
    if (this.devices === undefined) return;
    this.fail(`PC/SC: ${error.message}`);
    // Whatever the error, the binding is not trusted to carry on: drop it and make it again.
    this.release();
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), this.recoveryMs);
  }

  /** Reported once per distinct error: while pcscd is down the binding repeats it every second. */
  private fail(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.options.logger.error({ message }, 'reader driver error');
    this.events.emit('error', { message });
  }

  private release(): void {
    const devices = this.devices;
    this.devices = undefined;
    if (devices) {
      devices.removeAllListeners();
      // A listener stays so that a late error from the old binding has somewhere to go.
      devices.on('error', () => undefined);
      try {
        devices.stop();
      } catch {
        // Stopping a binding whose service is gone can throw; it is dropped either way.
      }
    }
    for (const name of [...this.state.keys()]) this.unplug(name);
  }

  private plug(name: string): void {
    if (this.state.has(name)) return;
    if (this.lastError) this.options.logger.info({ reader: name }, 'PC/SC service back');
    this.lastError = undefined;
    this.state.set(name, { name, connected: true, cardPresent: false });
    this.events.emit('reader-added', { reader: name });
  }

  private unplug(name: string): void {
    if (!this.state.delete(name)) return;
    this.events.emit('reader-removed', { reader: name });
  }

  private async read(reader: string, card: PcscCard, atr: Buffer | null | undefined): Promise<void> {
    const detectedAt = performance.now();
    const status = this.state.get(reader);
    if (status) status.cardPresent = true;
    if (classifyAtr(atr) === 'iso15693-tag') {
      await this.readTag(reader, card, detectedAt);
      return;
    }
    const read = await readCard((command) => this.exchange(card, command), {
      cpuCardUid: this.options.cpuCardUid ?? false,
    });
    const readAt = performance.now();
    this.options.onRead?.({ ...read, reader, detectedAt, readAt });
    if (read.failure)
      this.options.logger.warn({ reader, failure: read.failure, detail: read.detail }, 'card not read');
    if (status) status.lastError = read.failure ? read.detail : undefined;
    const presented: CardPresented = { reader, uid: read.uid, detectedAt };
    if (read.proof) presented.proof = read.proof;
    if (read.failure) presented.failure = read.failure;
    this.events.emit('card', presented);
  }

  /** A book's ISO 15693 tag: its UID is the item id, reported as an item, never as a card. */
  private async readTag(reader: string, card: PcscCard, detectedAt: number): Promise<void> {
    const read = await readTag((command) => this.exchange(card, command));
    const status = this.state.get(reader);
    if (status) status.lastError = read.failure ? read.detail : undefined;
    if (read.failure) {
      this.options.logger.warn({ reader, failure: read.failure, detail: read.detail }, 'tag not read');
      return;
    }
    this.options.logger.debug({ reader, itemId: read.itemId }, 'tag read');
    this.events.emit('item', { reader, itemId: read.itemId, detectedAt });
  }

  /** One APDU with a bounded wait; a card gone from the field is told apart from one that garbles. */
  private async exchange(card: PcscCard, command: Uint8Array): Promise<Uint8Array> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new ExchangeTimeoutError(`no answer within ${this.exchangeTimeoutMs} ms`)),
        this.exchangeTimeoutMs,
      );
    });
    try {
      return new Uint8Array(
        await Promise.race([card.transmit(Buffer.from(command), { autoGetResponse: true }), timeout]),
      );
    } catch (error) {
      if (error instanceof ExchangeTimeoutError) throw error;
      const message = (error as Error).message;
      if (/removed|reset|no smart ?card|0x80100069|0x80100068|0x80100066/i.test(message))
        throw new CardRemovedError(message);
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
