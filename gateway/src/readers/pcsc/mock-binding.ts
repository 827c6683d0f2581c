import { EventEmitter } from 'node:events';
import type { PcscBinding, PcscCard, PcscDevices } from './binding.js';

/** The far side of a tap as a test scripts it: what the card answers each APDU. */
export interface MockCard {
  /** The ATR the reader builds for it (default: a contactless card's). */
  atr?: Buffer;
  answer(command: Buffer): Promise<Buffer> | Buffer;
}

/** What a misbehaving card does: answers garbage, leaves the field mid-exchange, or never answers. */
export type MockCardFault = 'garbage' | 'removed' | 'silent';

const CONTACTLESS_ATR = Buffer.from('3B8F8001804F0CA000000306030001000000006A', 'hex');
const OK = Buffer.from([0x90, 0x00]);
const NOT_FOUND = Buffer.from([0x6a, 0x82]);

/**
 * A UID-only card: no EDU application (SELECT answers 6A82), its UID to GET DATA; or, with a fault,
 * one that answers garbage, is lifted mid-exchange (the binding's "card was removed") or never answers.
 */
export function mockUidCard(uid: string, fault?: MockCardFault): MockCard {
  return {
    answer(command) {
      if (fault === 'garbage') return Buffer.from([0x42]);
      if (fault === 'removed') throw new Error('Card was removed');
      if (fault === 'silent') return new Promise<Buffer>(() => undefined);
      const getUid = command[0] === 0xff && command[1] === 0xca;
      return getUid ? Buffer.concat([Buffer.from(uid, 'hex'), OK]) : NOT_FOUND;
    },
  };
}

const SERVICE_DOWN = 'PC/SC service not running';

/**
 * A scripted PC/SC binding for unit tests of the driver (after node-zwave-js's mock port): readers
 * attached and detached, cards tapped and lifted, and pcscd going away and coming back. It behaves
 * as the `smartcard` package was seen to (docs: ENVIRONMENT): readers already there at start are
 * not announced, only listed; while the service is down a binding reports an error every second;
 * and a binding that saw the service go never hears from it again, even once it is back, so the
 * driver must make a new one.
 */
export class MockPcscBinding implements PcscBinding {
  readonly Devices: new () => PcscDevices;
  /** How many bindings (`new Devices()`) the driver has made. */
  created = 0;
  private up = true;
  private readonly readers = new Set<string>();
  private readonly listening = new Set<MockDevices>();

  constructor(readers: string[] = []) {
    for (const reader of readers) this.readers.add(reader);
    const binding = this;
    this.Devices = class extends MockDevices {
      constructor() {
        super(binding);
        binding.created += 1;
      }
    };
  }

  /** Bindings started and not stopped that still hear the service. */
  get live(): number {
    return this.listening.size;
  }

  attach(reader: string): void {
    this.readers.add(reader);
    this.broadcast('reader-attached', { name: reader });
  }

  detach(reader: string): void {
    this.readers.delete(reader);
    this.broadcast('reader-detached', { name: reader });
  }

  /** A card held to `reader`: each started binding gets its own handle on it, as pcscd gives each client. */
  tap(reader: string, card: MockCard): void {
    const atr = card.atr ?? CONTACTLESS_ATR;
    const handle: PcscCard = {
      atr,
      transmit: async (command) => card.answer(command),
      disconnect: () => undefined,
    };
    this.broadcast('card-inserted', { reader: { name: reader, atr }, card: handle });
  }

  lift(reader: string): void {
    this.broadcast('card-removed', { reader: { name: reader } });
  }

  /** pcscd stops: every binding reports it, and is deaf from then on. */
  serviceDown(): void {
    this.up = false;
    for (const devices of [...this.listening]) devices.lose();
  }

  serviceUp(): void {
    this.up = true;
  }

  /** @internal */
  started(devices: MockDevices): void {
    if (this.up) this.listening.add(devices);
    else devices.lose();
  }

  /** @internal */
  stopped(devices: MockDevices): void {
    this.listening.delete(devices);
  }

  /** @internal */
  list(): { name: string }[] {
    if (!this.up) throw new Error(SERVICE_DOWN);
    return [...this.readers].map((name) => ({ name }));
  }

  private broadcast(event: string, payload: unknown): void {
    if (!this.up) return;
    for (const devices of this.listening) devices.emit(event, payload);
  }
}

class MockDevices extends EventEmitter implements PcscDevices {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly binding: MockPcscBinding) {
    super();
  }

  start(): void {
    this.binding.started(this);
  }

  stop(): void {
    clearInterval(this.timer);
    this.binding.stopped(this);
  }

  listReaders(): { name: string }[] {
    return this.binding.list();
  }

  /** The service is gone for this binding: an error now and every second, as the real one reports it. */
  lose(): void {
    this.binding.stopped(this);
    const report = () => this.emit('error', new Error(SERVICE_DOWN));
    setImmediate(report);
    clearInterval(this.timer);
    this.timer = setInterval(report, 1000);
    this.timer.unref();
  }
}
